"""The content-addressed file store behind the archive: each distinct content stored once.

Objects live in `<archive>/.objects/ab/cdef…`, named by the SHA-256 of their bytes, and
are read-only. An object is always an inode of the store's own, written by the store and
hashed as it was written: never a file that a process left running by a stage, or a
hard link elsewhere, could still change. Run folders hold hard links to them (a copy
where the file system cannot link), so browsing a run with ordinary tools shows ordinary
files, an unchanged file costs no new space, and the archive folder can be copied or
moved as one unit.

SHA-256 rather than a faster non-cryptographic hash: the store must never take two
different files for one, and on CPUs with SHA extensions it is also the fastest of
hashlib's choices (docs/performance.md).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import shutil
import socket
import stat
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from expman import fsutil, processes

OBJECTS_DIR = ".objects"
_CHUNK = 1 << 20
_READ_ONLY = 0o444
# Errors that mean "this file system cannot hard-link here": fall back to copying.
_NO_LINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES}
_FICLONE = 0x40049409  # linux/fs.h: share the source's blocks copy-on-write (btrfs, xfs)
_INCOMING = ".incoming-"
_LOCK = ".lock"
_HOST = socket.gethostname().replace("-", "_").replace("/", "_")

Progress = Callable[[int], None]


@dataclass(frozen=True)
class Stored:
    """One file as the archive records it: where it is in the run, its size and hash."""

    path: str
    size: int
    sha256: str | None  # None for a symbolic link
    link: str | None = None  # a symbolic link's target, kept as a link, never followed


def hash_file(path: Path, progress: Progress | None = None) -> str:
    """The SHA-256 of a file's bytes, as hex."""
    with path.open("rb") as f:
        if progress is None and hasattr(hashlib, "file_digest"):  # 3.11+: one reused buffer
            return str(hashlib.file_digest(f, "sha256").hexdigest())
        digest = hashlib.sha256()
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            if progress:
                progress(len(chunk))
    return digest.hexdigest()


class ObjectStore:
    """A folder of read-only files named by content."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold while adding objects and linking them into run folders: `gc` waits until
        no one does, so it never frees an object that is about to be linked."""
        with fsutil.locked(self.root / _LOCK, shared=True):
            yield

    @contextlib.contextmanager
    def collecting(self) -> Iterator[None]:
        """Hold while freeing objects (`gc`): no one adds or links objects meanwhile."""
        with fsutil.locked(self.root / _LOCK):
            yield

    def paths(self) -> Iterator[Path]:
        """Every object's path."""
        try:
            folders = sorted(os.scandir(self.root), key=lambda e: e.name)
        except OSError:
            return
        for folder in folders:
            if len(folder.name) == 2 and folder.is_dir(follow_symlinks=False):
                for entry in os.scandir(folder.path):
                    yield Path(entry.path)

    def path(self, digest: str) -> Path:
        """Where the object with this SHA-256 lives."""
        return self.root / digest[:2] / digest[2:]

    def add_bytes(self, data: bytes) -> str:
        """Store `data`; returns its SHA-256."""
        digest = hashlib.sha256(data).hexdigest()
        if not self.path(digest).exists():
            tmp = self._temp()
            try:
                tmp.write_bytes(data)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            self._commit(tmp, digest)
        return digest

    def add_file(self, source: Path, digest: str) -> str:
        """Store a copy of `source`, whose SHA-256 was `digest` when it was hashed.

        The object is always a new inode (a reflink where the file system has them, else
        a copy), hashed again as it is written: a process still writing to `source`
        cannot change the object, and the returned digest names the bytes stored.
        """
        if self.path(digest).exists():
            return digest
        tmp = self._temp()
        try:
            stored = _copy_hashing(source, tmp)
        except BaseException:
            tmp.unlink(missing_ok=True)  # a disk full mid-copy leaves no partial object
            raise
        self._commit(tmp, stored)
        return stored

    def link(self, digest: str, destination: Path) -> None:
        """Make `destination` show the object: a hard link, or a read-only copy."""
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(self.path(digest), destination)
        except OSError as e:
            if e.errno == errno.EEXIST and _same_file(self.path(digest), destination):
                return
            if e.errno not in _NO_LINK:
                raise
            shutil.copyfile(self.path(digest), destination)
            destination.chmod(_READ_ONLY)

    def _temp(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f"{_INCOMING}{_HOST}-{os.getpid()}-", dir=self.root)
        os.close(fd)
        return Path(name)

    def remove_abandoned(self) -> int:
        """Remove temporary files that a killed writer on this host left; their number.

        Their names carry the host and pid of their writer: a file whose writer is not
        alive is abandoned (a writer on another host is left alone).
        """
        removed = 0
        prefix = f"{_INCOMING}{_HOST}-"
        try:
            names = [n for n in os.listdir(self.root) if n.startswith(prefix)]  # noqa: PTH208
        except OSError:
            return 0
        for name in names:
            pid = name[len(prefix) :].split("-", 1)[0]
            if pid.isdigit() and not processes.alive(int(pid)):
                with contextlib.suppress(OSError):
                    (self.root / name).unlink()
                    removed += 1
        return removed

    def _commit(self, tmp: Path, digest: str) -> None:
        """Move a finished temporary file to its object name; another writer may win."""
        target = self.path(digest)
        target.parent.mkdir(exist_ok=True)
        tmp.chmod(_READ_ONLY)
        try:
            os.link(tmp, target)  # never replaces: a concurrent writer's copy is as good
        except FileExistsError:
            pass
        except OSError as e:
            if e.errno not in _NO_LINK:
                tmp.unlink()
                raise
            tmp.replace(target)  # no hard links here: same content, so replacing is safe
            return
        tmp.unlink()


def _copy_hashing(source: Path, destination: Path) -> str:
    """Copy `source` over `destination` (a reflink when possible); the copy's SHA-256."""
    with source.open("rb") as src, destination.open("r+b") as dst:
        try:
            fcntl.ioctl(dst.fileno(), _FICLONE, src.fileno())
        except OSError:
            pass  # no reflinks here (ext4, tmpfs, another file system): copy the bytes
        else:
            return hash_file(destination)
        digest = hashlib.sha256()
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            dst.write(chunk)
        dst.truncate()
    return digest.hexdigest()


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


def archive_tree(
    store: ObjectStore,
    source: Path,
    destination: Path,
    progress: Progress | None = None,
) -> list[Stored]:
    """Store every file below `source` and link it at the same place below `destination`.

    Symbolic links are recreated as links, never followed; other special files (pipes,
    sockets) are left out. A folder that cannot be read raises `OSError`: nothing is
    skipped silently. Names that are not UTF-8 are stored under `escape_name`. Big files
    are hashed on several threads (hashlib releases the GIL), small ones on this one.
    """
    files: list[tuple[Path, str, int]] = []
    stored: list[Stored] = []
    taken: set[str] = set()
    for folder, dirs, names in os.walk(source, onerror=_raise):
        dirs.sort()
        for name in sorted(names) + [d for d in dirs if Path(folder, d).is_symlink()]:
            path = Path(folder, name)
            relative = _unique(escape_name(path.relative_to(source).as_posix()), taken)
            info = path.lstat()
            mode = info.st_mode
            if stat.S_ISLNK(mode):
                target = escape_name(str(path.readlink()))
                (destination / relative).parent.mkdir(parents=True, exist_ok=True)
                (destination / relative).symlink_to(target)
                stored.append(Stored(relative, 0, None, target))
            elif stat.S_ISREG(mode):
                files.append((path, relative, info.st_size))
    digests = _hash_all([(path, size) for path, _, size in files], progress)
    for (path, relative, _), digest in zip(files, digests, strict=True):
        digest = store.add_file(path, digest)
        store.link(digest, destination / relative)
        stored.append(Stored(relative, store.path(digest).stat().st_size, digest))
    return sorted(stored, key=lambda s: s.path)


def escape_name(name: str) -> str:
    """A file name as valid UTF-8 text: each byte that is not UTF-8 becomes `%XX` (its hex).

    Names that are UTF-8 already are kept as they are. (Python reads such bytes as the
    surrogates U+DC80..U+DCFF, which no UTF-8 text holds.)
    """
    if name.isascii():
        return name
    return "".join(f"%{ord(c) - 0xDC00:02X}" if 0xDC80 <= ord(c) <= 0xDCFF else c for c in name)


def _unique(name: str, taken: set[str]) -> str:
    """`name`, or `name~N` when an escaped name fell on one already used."""
    candidate, number = name, 0
    while candidate in taken:
        number += 1
        candidate = f"{name}~{number}"
    taken.add(candidate)
    return candidate


def _raise(error: OSError) -> None:
    raise error


_POOLED = 1 << 20  # files from this size up are hashed on the thread pool


def _hash_all(files: list[tuple[Path, int]], progress: Progress | None) -> list[str]:
    """The SHA-256 of each file, in order: big files on several threads (hashlib releases
    the GIL while it hashes), small ones here (a thread's hand-over costs more than
    hashing a few kilobytes: 100,000 files of 1 KB took 5 x longer on the pool)."""
    digests: list[str | None] = [None] * len(files)
    big = [i for i, (_, size) in enumerate(files) if size >= _POOLED]
    if big:
        from concurrent.futures import ThreadPoolExecutor  # only for big files

        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            hashed = pool.map(lambda i: hash_file(files[i][0], progress), big)
            for i, digest in zip(big, hashed, strict=True):
                digests[i] = digest
    for i, (path, _) in enumerate(files):
        if digests[i] is None:
            digests[i] = hash_file(path, progress)
    return [d for d in digests if d is not None]

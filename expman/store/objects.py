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
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

from expman import fsutil, processes

OBJECTS_DIR = ".objects"
_CHUNK = 1 << 20
_READ_ONLY = 0o444
# Errors that mean "this file system cannot hard-link here": fall back to copying.
_NO_LINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES}
_FICLONE = 0x40049409  # linux/fs.h: share the source's blocks copy-on-write (btrfs, xfs)
_INCOMING = ".incoming-"
STORE_LOCK = ".lock"
_HOST = processes.host().replace("-", "_").replace("/", "_")

Progress = Callable[[int], None]


class Stored(NamedTuple):
    """One file as the archive records it: where it is in the run, its size and hash."""

    path: str
    size: int
    sha256: str | None  # None for a symbolic link
    link: str | None = None  # a symbolic link's target, kept as a link, never followed


def hash_file(path: Path, progress: Progress | None = None) -> str:
    """The SHA-256 of a file's bytes, as hex."""
    with path.open("rb") as f:
        return hash_open(f, progress)


def hash_open(f: BinaryIO, progress: Progress | None = None) -> str:
    """The SHA-256 of the bytes of an open file, from where it is to its end, as hex."""
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
        with fsutil.locked(self.root / STORE_LOCK, shared=True):
            yield

    @contextlib.contextmanager
    def collecting(self) -> Iterator[None]:
        """Hold while freeing objects (`gc`): no one adds or links objects meanwhile."""
        with fsutil.locked(self.root / STORE_LOCK):
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
        return self.add_copy(source)

    def add_copy(self, source: Path, progress: Progress | None = None) -> str:
        """Store a copy of `source`, hashed as it is written (one pass over its bytes);
        returns the digest of what was stored. For content that is new to the store: when
        the store has it already, the copy was wasted work and is dropped."""
        tmp = self._temp()
        try:
            stored = _copy_hashing(source, tmp, progress)
        except BaseException:
            tmp.unlink(missing_ok=True)  # a disk full mid-copy leaves no partial object
            raise
        self._commit(tmp, stored)
        return stored

    def add_checked(self, source: Path, digest: str) -> int:
        """Store a copy of `source`, a file from elsewhere that must hash to `digest`; the
        bytes copied (0 when the store has the content already). A copy that hashes
        otherwise is dropped before it is ever an object (`ValueError`): the store is left
        as it was, whatever content the copy held."""
        if self.path(digest).exists():
            return 0
        tmp = self._temp()
        try:
            stored = _copy_hashing(source, tmp)
            if stored != digest:
                raise ValueError(f"{source}: its content does not match its hash {digest[:12]}…")
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        size = tmp.stat().st_size
        self._commit(tmp, digest)
        return size

    def add_prefix(self, fd: int, size: int) -> str:
        """Store the first `size` bytes of the open file `fd` (which a writer may still
        be growing: what it appends is not taken), hashed as they are written; returns
        the digest of what was stored."""
        tmp = self._temp()
        digest = hashlib.sha256()
        try:
            with tmp.open("r+b", buffering=0) as dst:
                offset = 0
                while offset < size:
                    chunk = os.pread(fd, min(_CHUNK, size - offset), offset)
                    if not chunk:
                        break  # truncated meanwhile: what is left is stored
                    digest.update(chunk)
                    _write_all(dst.fileno(), chunk)
                    offset += len(chunk)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self._commit(tmp, digest.hexdigest())
        return digest.hexdigest()

    def add_small(self, data: bytes, destination: str) -> str:
        """Store `data` (a small file read whole) and show it at `destination` (new, in an
        existing folder); returns its SHA-256. The object is written from these very
        bytes at `destination`, and linked to its object name when complete: one inode,
        as `add_file` and `link` would leave it, in 4 system calls when it is new."""
        digest = hashlib.sha256(data).hexdigest()
        target = f"{self.root}/{digest[:2]}/{digest[2:]}"
        try:
            os.link(target, destination)  # stored before: nothing to write
            return digest
        except FileNotFoundError:
            pass
        except OSError as e:
            if e.errno not in _NO_LINK:
                raise
            self.add_bytes(data)  # no hard links here: the copying path
            self.link(digest, Path(destination))
            return digest
        # Written at `destination` (a run folder's new file, removed with the folder if
        # archiving stops), and given its object name only once complete.
        fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _READ_ONLY)
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        try:
            self._name(destination, target, data)
        except FileNotFoundError:  # the first object with this prefix
            os.makedirs(os.path.dirname(target), exist_ok=True)  # noqa: PTH103, PTH120
            self._name(destination, target, data)
        return digest

    def _name(self, written: str, target: str, data: bytes) -> None:
        """Give the complete file `written` its object name `target`."""
        try:
            os.link(written, target)
        except FileExistsError:  # another writer stored it meanwhile: show theirs
            os.unlink(written)  # noqa: PTH108 - str paths: a Path per file costs
            os.link(target, written)
        except OSError as e:
            if e.errno not in _NO_LINK:
                raise
            self.add_bytes(data)  # no hard links here: the store keeps its own copy

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


def _copy_hashing(source: Path, destination: Path, progress: Progress | None = None) -> str:
    """Copy `source` over `destination` (a reflink when possible); the copy's SHA-256.
    `source` must be a regular file: a link or one replaced by a pipe is refused, never
    followed nor waited on."""
    fd = open_regular(str(source), os.O_NOFOLLOW)
    with open(fd, "rb", buffering=0) as src, destination.open("r+b", buffering=0) as dst:  # noqa: PTH123
        try:
            fcntl.ioctl(dst.fileno(), _FICLONE, src.fileno())
        except OSError:
            pass  # no reflinks here (ext4, tmpfs, another file system): copy the bytes
        else:
            return hash_file(destination, progress)
        digest = hashlib.sha256()
        buffer = bytearray(_CHUNK)  # one buffer, read into: no new bytes object a chunk
        view = memoryview(buffer)
        while count := src.readinto(buffer):
            digest.update(view[:count])
            _write_all(dst.fileno(), view[:count])
            if progress:
                progress(count)
        dst.truncate()
    return digest.hexdigest()


def open_regular(path: str, flags: int = 0, dir_fd: int | None = None) -> int:
    """A read-only descriptor of the regular file at `path` (relative to the folder
    `dir_fd`, when given). Anything else there (a pipe or device put where a file was
    listed) raises `OSError` at once, never waited on, and is not even opened: opening a
    pipe releases a writer waiting on it, and a device may act on being opened."""
    found = os.stat(path, dir_fd=dir_fd, follow_symlinks=not flags & os.O_NOFOLLOW).st_mode
    if not stat.S_ISREG(found) and not stat.S_ISLNK(found):  # a link: refused by the open
        raise OSError(errno.EINVAL, "not a regular file any more", path)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | flags, dir_fd=dir_fd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file any more", path)
    return fd


_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def open_folder(folder: Path | str, parts: Iterable[str] = ()) -> int:
    """A descriptor of the folder `parts` below `folder`, reached without following a
    link (`folder` itself included): `OSError` (ENOTDIR, or ELOOP) where one is met."""
    fd = os.open(folder, _FOLDER)
    for part in parts:
        try:
            inner = os.open(part, _FOLDER, dir_fd=fd)
        finally:
            os.close(fd)
        fd = inner
    return fd


def open_below(folder: Path | str, relative: str) -> int:
    """A read-only descriptor of the regular file at `relative` (`/`-separated) below
    `folder`, reached without following a link and never waiting on a pipe (`OSError`):
    how files named by a record, or held by a run from elsewhere, are read."""
    *parents, name = relative.split("/")
    fd = open_folder(folder, parents)
    try:
        return open_regular(name, os.O_NOFOLLOW, dir_fd=fd)
    finally:
        os.close(fd)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]

"""The content-addressed file store behind the archive: each distinct content stored once.

Objects live in `<archive>/.objects/ab/cdef…`, named by the SHA-256 of their bytes, and
are read-only. Run folders hold hard links to them (a copy where the file system cannot
link), so browsing a run with ordinary tools shows ordinary files, an unchanged file
costs no new space, and the archive folder can be copied or moved as one unit.

SHA-256 rather than a faster non-cryptographic hash: the store must never take two
different files for one, and on CPUs with SHA extensions it is also the fastest of
hashlib's choices (docs/performance.md).
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

OBJECTS_DIR = ".objects"
_CHUNK = 1 << 20
_READ_ONLY = 0o444
# Errors that mean "this file system cannot hard-link here": fall back to copying.
_NO_LINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES}

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

    def add_file(self, source: Path, digest: str, adopt: bool = False) -> None:
        """Store the file `source` whose SHA-256 is `digest`.

        With `adopt`, the file itself becomes the object (a hard link, no copy): for
        outputs, whose original name is removed once archived. A file with other hard
        links is copied instead, so that nothing outside can change the object.
        """
        if self.path(digest).exists():
            return
        tmp = self._temp()
        tmp.unlink()
        try:
            if adopt and source.stat().st_nlink == 1:
                try:
                    os.link(source, tmp)
                except OSError as e:
                    if e.errno not in _NO_LINK:
                        raise
                    shutil.copyfile(source, tmp)
            else:
                shutil.copyfile(source, tmp)
        except BaseException:
            tmp.unlink(missing_ok=True)  # a disk full mid-copy leaves no partial object
            raise
        self._commit(tmp, digest)

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
        fd, name = tempfile.mkstemp(prefix=".incoming-", dir=self.root)
        os.close(fd)
        return Path(name)

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


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


def archive_tree(
    store: ObjectStore,
    source: Path,
    destination: Path,
    adopt: bool,
    progress: Progress | None = None,
) -> list[Stored]:
    """Store every file below `source` and link it at the same place below `destination`.

    Symbolic links are recreated as links, never followed; other special files (pipes,
    sockets) are left out. Files are hashed on several threads (hashlib releases the GIL).
    """
    files: list[tuple[Path, str]] = []
    stored: list[Stored] = []
    for folder, dirs, names in os.walk(source):
        dirs.sort()
        for name in sorted(names) + [d for d in dirs if Path(folder, d).is_symlink()]:
            path = Path(folder, name)
            relative = path.relative_to(source).as_posix()
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                target = str(path.readlink())
                (destination / relative).parent.mkdir(parents=True, exist_ok=True)
                (destination / relative).symlink_to(target)
                stored.append(Stored(relative, 0, None, target))
            elif stat.S_ISREG(mode):
                files.append((path, relative))
    digests = _hash_all((path for path, _ in files), progress)
    for (path, relative), digest in zip(files, digests, strict=True):
        store.add_file(path, digest, adopt=adopt)
        store.link(digest, destination / relative)
        stored.append(Stored(relative, path.stat().st_size, digest))
    return sorted(stored, key=lambda s: s.path)


def _hash_all(paths: Iterable[Path], progress: Progress | None) -> list[str]:
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        return list(pool.map(lambda p: hash_file(p, progress), paths))

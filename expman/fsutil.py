"""File-system primitives: atomic writes, OS locks, and dependency patterns expanded into
files."""

from __future__ import annotations

import contextlib
import fcntl
import glob
import itertools
import os
import posixpath
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from expman import jsontext

_temporary = itertools.count()  # the temporary files' numbers, in this process


def write_atomic(path: Path, data: bytes, mode: int = 0o644, sync: bool = True) -> None:
    """Write `data` to `path` so that readers see the old content or the new, never a mix.

    The bytes go to a temporary file in the same folder and replace `path` in one
    `rename`. With `sync` (for anything that is not a cache), the file is flushed to disk
    first and the folder synced after, so that the rename survives a power cut. The
    temporary file's name is this process's and never an existing file's (`O_EXCL`):
    a leftover of a process that died under the same pid is passed by, not reused.
    """
    folder, name = os.path.split(path)
    while True:
        # Strings, not `Path`s: a runner writes its record several times a step.
        tmp = os.path.join(folder, f".{name}.{os.getpid()}-{next(_temporary)}.tmp")  # noqa: PTH118
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            break
        except FileExistsError:
            continue
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)  # noqa: PTH104
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)  # noqa: PTH108
        raise
    if sync:
        sync_dir(Path(folder))


def write_json_atomic(path: Path, value: Any, sync: bool = True) -> None:
    """`write_atomic` of `value` as readable JSON (`jsontext`)."""
    write_atomic(path, jsontext.dumps(value).encode("utf-8"), sync=sync)


@contextlib.contextmanager
def locked(path: Path, shared: bool = False) -> Iterator[None]:
    """Hold an OS lock (flock) on `path` while the block runs: a folder itself, or a lock
    file (made if missing). The kernel drops it when its holder dies, however it dies."""
    if path.is_dir():
        fd = os.open(path, os.O_RDONLY)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def sync_dir(path: Path) -> None:
    """fsync a folder, so that a rename or a new entry in it is durable."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync folders; the data itself was synced
    finally:
        os.close(fd)


def expand(patterns: Iterable[str], root: Path) -> tuple[list[str], list[str]]:
    """Files named by `patterns` (files, folders, globs), relative to `root`, sorted.

    A folder stands for every file below it. Returns (files, patterns that matched
    nothing); paths are normalised POSIX paths so that doit compares them as equal.
    """
    found: set[str] = set()
    missing: list[str] = []
    for pattern in patterns:
        matches = _matches(pattern, root)
        if not matches:
            missing.append(pattern)
        found.update(matches)
    return sorted(found), missing


def within(name: str, folder: str) -> bool:
    """Whether the relative POSIX path `name` is `folder` or below it."""
    return name == folder or name.startswith(folder + "/")


def _matches(pattern: str, root: Path) -> set[str]:
    base = root / pattern
    if glob.has_magic(pattern):
        paths = [Path(p) for p in glob.glob(str(base), recursive=True)]  # noqa: PTH207
    elif base.exists():
        paths = [base]
    else:
        return set()
    files: set[str] = set()
    for path in paths:
        if path.is_dir():
            for folder, _, names in os.walk(path):
                files.update(_relative(Path(folder) / name, root) for name in names)
        elif path.exists():
            files.add(_relative(path, root))
    return files


def _relative(path: Path, root: Path) -> str:
    text = os.path.relpath(path, root) if path.is_absolute() else str(path)
    return posixpath.normpath(Path(text).as_posix())

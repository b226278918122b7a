"""File-system primitives: atomic writes, OS locks, and dependency patterns expanded into
files."""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import posixpath
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from expman import jsontext


def write_atomic(path: Path, data: bytes, mode: int = 0o644, sync: bool = True) -> None:
    """Write `data` to `path` so that readers see the old content or the new, never a mix.

    The bytes go to a temporary file in the same folder and replace `path` in one
    `rename`. With `sync` (for anything that is not a cache), the file is flushed to disk
    first and the folder synced after, so that the rename survives a power cut.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        Path(tmp).chmod(mode)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if sync:
        sync_dir(path.parent)


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

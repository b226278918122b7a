"""Storing a folder into the object store: what `end` does with a run's outputs.

Every file below the folder is stored (each distinct content once) and linked at the same
place in the run folder; symbolic links are kept as links. Small files and big ones take
the cheapest path the store's rules allow (`objects.py`: an object is always the store's
own copy, hashed as it is written).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from expman.store.objects import ObjectStore, Progress, Stored, hash_file, open_below, open_regular

_CHUNK = 1 << 20


def archive_tree(
    store: ObjectStore,
    source: Path,
    destination: Path,
    progress: Progress | None = None,
    earlier: Sequence[Path] = (),
) -> list[Stored]:
    """Store every file below `source` and link it at the same place below `destination`;
    `earlier` are earlier runs' archived outputs, newest first (see `_store_all`).

    Symbolic links are recreated as links, never followed; other special files (pipes,
    sockets) are left out. A folder that cannot be read raises `OSError`: nothing is
    skipped silently. Names that are not UTF-8 are stored under `escape_name`.

    Small files are read once into memory, hashed, and (when new) written into the store
    from those bytes, with as few system calls as the store's rules allow (they were 10
    x `cp -r`'s time, at about 20 calls a file). Big files are hashed on several threads
    (hashlib releases the GIL) and copied into the store, once or twice (`_store_all`).
    """
    stored: list[Stored] = []
    big: list[tuple[str, str]] = []
    taken: set[str] = set()
    destination.mkdir(parents=True, exist_ok=True)
    for path, relative, entry in _walk(str(source), "", taken):
        target = f"{destination}/{relative}"
        if entry.is_symlink():
            link = escape_name(os.readlink(path))  # noqa: PTH115 - str paths, per file
            os.symlink(link, target)  # noqa: PTH211
            stored.append(Stored(relative, 0, None, link))
        elif entry.is_dir(follow_symlinks=False):
            os.mkdir(target)  # noqa: PTH102
        elif entry.is_file(follow_symlinks=False):
            data = _read_small(path)
            if data is None:
                big.append((path, relative))
                continue
            stored.append(Stored(relative, len(data), store.add_small(data, target)))
            if progress:
                progress(len(data))
    digests = _store_all(store, big, earlier, progress)
    for (_, relative), digest in zip(big, digests, strict=True):
        store.link(digest, destination / relative)
        stored.append(Stored(relative, store.path(digest).stat().st_size, digest))
    return sorted(stored, key=lambda s: s.path)


def _read_small(path: str) -> bytes | None:
    """The bytes of a file under `_POOLED` in size (None for a bigger one), in as few
    system calls as can be: a short read is the end of a regular file."""
    fd = open_regular(path)  # replaced by a pipe since the folder was listed: refused
    try:
        size = os.fstat(fd).st_size
        if size >= _POOLED:
            return None
        data = os.read(fd, size + 1)
        if len(data) <= size:
            return data
        chunks = [data]  # it grew meanwhile: read it to its end
        while chunk := os.read(fd, _CHUNK):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _walk(folder: str, prefix: str, taken: set[str]) -> Iterator[tuple[str, str, os.DirEntry[str]]]:
    """(path, relative name, entry) of everything below `folder`, a folder before what it
    holds, in name order; an unreadable folder raises."""
    with os.scandir(folder) as found:
        entries = sorted(found, key=lambda e: e.name)
    for entry in entries:
        relative = _unique(escape_name(prefix + entry.name), taken)
        yield entry.path, relative, entry
        if entry.is_dir(follow_symlinks=False) and not entry.is_symlink():
            yield from _walk(entry.path, relative + "/", taken)


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


_POOLED = 1 << 20  # files from this size up are stored on the thread pool
_LOOKS = 8  # places at which a big file is compared with an earlier run's
_LOOK = 4096  # bytes compared at each


def _store_all(
    store: ObjectStore,
    files: list[tuple[str, str]],
    earlier: Sequence[Path],
    progress: Progress | None,
) -> list[str]:
    """Store big files (path, relative name) on several threads (hashlib and file I/O
    release the GIL); returns their digests, in order.

    A file that looks like one at its place in an earlier run's outputs (`earlier`,
    newest first) is probably stored: it is hashed, and copied only when its content
    turns out new. Any other file is probably new: it is copied into the store and
    hashed as it is written, in one pass (a checkpoint written anew every run costs one
    read of its bytes, not two); the copy is dropped when the store had the content.
    Either way the object is the store's own copy, hashed as written: the guess only
    decides which work comes first.
    """
    if not files:
        return []
    from concurrent.futures import ThreadPoolExecutor  # only for big files

    def store_one(file: tuple[str, str]) -> str:
        path, relative = file
        if _seen_before(path, relative, earlier):
            return store.add_file(Path(path), hash_file(Path(path), progress))
        return store.add_copy(Path(path), progress)

    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        return list(pool.map(store_one, files))


def _seen_before(path: str, relative: str, earlier: Sequence[Path]) -> bool:
    """Whether an earlier run's file at `relative` has the size of `path` and the same
    bytes at `_LOOKS` places spread over it (a guess; the hash decides)."""
    try:
        mine = open_regular(path, os.O_NOFOLLOW)
    except OSError:
        return False  # not a regular file any more: storing it will say so
    try:
        size = os.fstat(mine).st_size
        places = sorted({i * max(0, size - _LOOK) // (_LOOKS - 1) for i in range(_LOOKS)})
        wanted = [os.pread(mine, _LOOK, place) for place in places]
    finally:
        os.close(mine)
    for folder in earlier:
        theirs = _open_file(folder, relative)
        if theirs is None:
            continue  # none there: look further back
        try:
            if os.fstat(theirs).st_size == size and all(
                os.pread(theirs, _LOOK, place) == bytes_
                for place, bytes_ in zip(places, wanted, strict=True)
            ):
                return True
        finally:
            os.close(theirs)
    return False


def _open_file(folder: Path | str, relative: str) -> int | None:
    """A descriptor of the regular file at `relative` below `folder` (never following a
    link, never waiting on a pipe: an earlier run may come from elsewhere), or None."""
    try:
        return open_below(folder, relative)
    except OSError:
        return None

"""What the record cache's values depend on: a record's signature, and when one names
exactly one content.

A signature is the stat of a run's `run.json` (size, modification and change times in ns,
inode), packed in 32 bytes; a segment's signatures are compared as one string of bytes
(unpacking 4,000 numbers a segment from the cache took a tenth of a warm query).
`of_records` is the one place that says what a cached field depends on: a field derived from another
file must be written into `run.json` whenever that file changes, or that file's stat added
here.

A signature names one content only when the record's change time is older than the moment
its reading started, on the file system's own clock (`clock`), and it was not modified in
the last `RACY_SECONDS` (as git's "racy" index entries): `settled` and `unchanged_since`
say so; `index` caches nothing else.
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Iterable
from pathlib import Path

RACY_SECONDS = 2.0

Signature = bytes
_PACKED = struct.Struct("4q")
NO_RECORD = _PACKED.pack(-1, -1, -1, -1)


def of_record(path: str) -> Signature | None:
    """A record's signature (`of_records`; None when it cannot be stat'ed): what any other
    keeper of what a record says (an adaptive search's trials) checks it against."""
    found = of_records([path])[0]
    return None if found == NO_RECORD else found


def of_folder(folder: Path) -> Signature | None:
    """What a folder's listing depends on (its times, size and inode), packed."""
    found = of_records([str(folder)])[0]
    return None if found == NO_RECORD else found


def of_records(paths: Iterable[str], folder: int | None = None) -> list[Signature]:
    """Everything the cached fields of the records at `paths` depend on (see the module's
    docstring): the one place to add a file that fields of records are derived from.
    `paths` are relative to the open folder `folder` when one is given. One loop, not a
    call per record (which cost a tenth of a warm query)."""
    stat, pack = os.stat, _PACKED.pack
    found = []
    for path in paths:  # str paths: a Path costs ~1 us, per run
        try:
            info = stat(path, dir_fd=folder)
        except OSError:
            found.append(NO_RECORD)
            continue
        # ctime too: `cp -p` or `rsync -t` can put an edited record's size and mtime back
        # as they were (and keep its inode), but any change of content sets its ctime.
        found.append(pack(info.st_mtime_ns, info.st_size, info.st_ino, info.st_ctime_ns))
    return found


def times(signature: Signature) -> tuple[int, int] | None:
    """The modification and change times a signature holds; None for no record."""
    if signature == NO_RECORD:
        return None
    mtime_ns, _, _, ctime_ns = _PACKED.unpack(signature)
    return mtime_ns, ctime_ns


def settled(signatures: list[Signature]) -> bool:
    """Every record is there and was not modified in the last `RACY_SECONDS`."""
    now_ns = time.time_ns()
    found = [times(s) for s in signatures]
    return all(t is not None and now_ns - t[0] >= RACY_SECONDS * 1e9 for t in found)


def clock(folder: Path) -> int | None:
    """The file system's time now, as it would stamp a change (the change time of
    `folder`, touched for it); None when the cache cannot be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        os.utime(folder)
        return folder.stat().st_ctime_ns
    except OSError:
        return None


def unchanged_since(paths: list[str], signatures: list[Signature], started: int) -> bool:
    """Every record still has its signature, and was last changed before `started`: what
    was read after `started` is then the only content its signature can name."""
    after = of_records(paths)
    found = [times(s) for s in after]
    return after == signatures and all(t is not None and t[1] < started for t in found)

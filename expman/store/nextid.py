"""The next run id of an archive, without listing the archive when nothing but new runs
changed it.

A new run gets the id after the highest of the archive's runs, removed ones and purged
ones included (`Archive.publish`), and listing 100,000 run folders for it costs ~0.1 s a
run. So the last id given is kept (`STAGINGS/last-id`, a cache: not synced), with the
archive folder's signature (inode, modification and change times in ns) just after it
was given: while the folder still has that signature, no entry of it was added, removed
or renamed since (a run made by hand, `rm`, a purge), and the next id is the one after.
An id taken meanwhile by another process is passed over as before (its folder exists:
the rename fails). The hint and the staging folders live in `STAGINGS`, so that neither
changes the archive folder itself.

What enters the folder between a run's rename and the signature taken after it would be
hidden by that signature: so the folder's link count (two and one a folder in it) is
read just before the rename (`links`), and a hint is kept only when it grew by the one
folder renamed in. Where the file system does not count (ext4 past 65,000 folders says
1), the archive is listed again at least every `TRUSTED` runs instead (a 64th of a
listing's cost a run).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from expman import fsutil

STAGINGS = ".staging"  # in the archive: new runs' folders before they get their id
_HINT = "last-id"
_LOCK = "ids.lock"
_LARGEST = 10**15  # no archive gives more ids: a hint saying more is no hint
TRUSTED = 64  # ids given from one hint after another, at most, before a listing


def locked(root: Path) -> contextlib.AbstractContextManager[None]:
    """The archive's id lock: an id is chosen and taken (the run folder renamed in), and a
    run is moved to or from the trash, one at a time. Else a run made and removed between
    another's choice of that id and its rename left the id free: given twice."""
    return fsutil.locked(root / STAGINGS / _LOCK)


def guess(root: Path) -> tuple[int, int] | None:
    """The next id and how many ids were given from hints since the archive was last
    listed, when the archive folder `root` is as it was when the last id was given and
    the hint was not trusted `TRUSTED` times in a row; else None (then list it)."""
    try:
        text = (root / STAGINGS / _HINT).read_text(encoding="ascii")
        number, streak, *signature = (int(part) for part in text.split())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not 0 < number < _LARGEST or not 0 <= streak < TRUSTED:
        return None
    try:
        if signature != _signature(os.stat(root)):  # noqa: PTH116
            return None
    except OSError:
        return None
    return number + 1, streak + 1


def links(root: Path) -> int:
    """The archive folder's link count, read just before a run's folder is renamed in."""
    return os.stat(root).st_nlink  # noqa: PTH116


def given(root: Path, number: int, streak: int, before: int) -> None:
    """Note that `number` was given last, the archive folder `root` as it is now, the
    `streak`-th id in a row given from a hint (0: after a listing); `before`: `links`
    just before its folder was renamed in. Nothing is noted when anything else entered
    or left the folder meanwhile (then the next run lists the archive)."""
    try:
        info = os.stat(root)  # noqa: PTH116
        counted = before > 1 and info.st_nlink > 1
        if counted and info.st_nlink != before + 1:
            return  # the old hint names another signature: it is no hint either
        text = " ".join(str(part) for part in (number, streak, *_signature(info)))
        fsutil.write_atomic(root / STAGINGS / _HINT, f"{text}\n".encode(), sync=False)
    except OSError:
        pass  # a cache: the next run lists the archive


def _signature(info: os.stat_result) -> list[int]:
    return [info.st_ino, info.st_mtime_ns, info.st_ctime_ns]

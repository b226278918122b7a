"""`expman push DEST` and `expman pull SRC`: copy runs between archive folders."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from expman import sync
from expman.archive import Archive
from expman.commands.query import report_damaged
from expman.errors import UsageError
from expman.output import write_line


def push(*, archive: Path, destination: Path, streams: tuple[TextIO, TextIO]) -> int:
    """Copy this archive's ended runs that `destination` lacks (made if missing)."""
    out, err = streams
    if destination.exists() and not destination.is_dir():
        raise UsageError(f"push {destination}: not a folder")
    destination.mkdir(parents=True, exist_ok=True)
    done = sync.transfer(Archive(archive), Archive(destination))
    report_damaged(done.damaged, err)
    write_line(out, sync.describe(done, f"pushed to {destination}:"))
    return 0


def pull(*, archive: Path, source: Path, streams: tuple[TextIO, TextIO]) -> int:
    """Copy the ended runs of `source` that this archive lacks."""
    out, err = streams
    if not source.is_dir():
        raise UsageError(f"pull {source}: no such folder")
    done = sync.transfer(Archive(source), Archive(archive))
    report_damaged(done.damaged, err)
    write_line(out, sync.describe(done, f"pulled from {source}:"))
    return 0

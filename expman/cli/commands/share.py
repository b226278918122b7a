"""`expman push DEST` and `expman pull SRC`: copy runs between archive folders."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from expman.cli.commands.query import report_damaged
from expman.errors import EXIT_USAGE, UsageError
from expman.output import style, write_line
from expman.store import sync
from expman.store.archive import Archive


def push(*, archive: Path, destination: Path, streams: tuple[TextIO, TextIO]) -> int:
    """Copy this archive's ended runs that `destination` lacks (made if missing)."""
    if destination.exists() and not destination.is_dir():
        raise UsageError(f"push {destination}: not a folder")
    destination.mkdir(parents=True, exist_ok=True)
    done = sync.transfer(Archive(archive), Archive(destination))
    return _said(done, f"pushed to {destination}:", streams)


def pull(*, archive: Path, source: Path, streams: tuple[TextIO, TextIO]) -> int:
    """Copy the ended runs of `source` that this archive lacks."""
    if not source.is_dir():
        raise UsageError(f"pull {source}: no such folder")
    done = sync.transfer(Archive(source), Archive(archive))
    return _said(done, f"pulled from {source}:", streams)


def _said(done: sync.Transfer, verb: str, streams: tuple[TextIO, TextIO]) -> int:
    """Say what a transfer did, and each run it refused; 2 when it refused any."""
    out, err = streams
    report_damaged(done.damaged, err)
    for reason in done.refused:
        write_line(err, style(f"expman: refused: {reason}", "red", err))
    write_line(out, sync.describe(done, verb))
    return EXIT_USAGE if done.refused else 0

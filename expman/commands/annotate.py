"""`expman note RUN -m TEXT` and `expman tag RUN +TAG -TAG`: add to a run after the fact."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from expman import annotation
from expman.archive import Archive
from expman.errors import UsageError
from expman.output import write_line


def note(*, archive: Path, names: Sequence[str], text: str, out: TextIO) -> int:
    """Add the note `text` to each run named."""
    if not text.strip():
        raise UsageError("-m: the note is empty")
    store = Archive(archive)
    for run_id in [store.resolve(name) for name in names]:
        run = store.annotate(run_id, {"note": text})
        write_line(out, f"run {run_id}: {len(run['notes'])} note(s)")
    return 0


def tag(*, archive: Path, names: Sequence[str], changes: Sequence[str], out: TextIO) -> int:
    """Add (+TAG) and remove (-TAG) tags of each run named."""
    try:
        added, removed = annotation.parse_tag_changes(list(changes))
    except ValueError as e:
        raise UsageError(str(e)) from e
    if not added and not removed:
        raise UsageError("no tag changes given: write +TAG to add a tag, -TAG to remove one")
    store = Archive(archive)
    for run_id in [store.resolve(name) for name in names]:
        run = store.annotate(run_id, {"add": added, "remove": removed})
        write_line(out, f"run {run_id}: tags {', '.join(run['tags']) or '(none)'}")
    return 0

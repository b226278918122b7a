"""`expman note RUN -m TEXT` and `expman tag RUN +TAG -TAG`: add to a run (or a sweep,
`s0001`) after the fact."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from expman.errors import UsageError
from expman.output import printable, write_line
from expman.store import annotation
from expman.store.archive import Archive
from expman.sweeps.store import Sweeps


def note(*, archive: Path, names: Sequence[str], text: str, out: TextIO) -> int:
    """Add the note `text` to each run named."""
    if not text.strip():
        raise UsageError("-m: the note is empty")
    for what, data in _annotate(Archive(archive), names, {"note": text}):
        write_line(out, f"{what}: {len(data['notes'])} note(s)")
    return 0


def tag(*, archive: Path, names: Sequence[str], changes: Sequence[str], out: TextIO) -> int:
    """Add (+TAG) and remove (-TAG) tags of each run named."""
    try:
        added, removed = annotation.parse_tag_changes(list(changes))
    except ValueError as e:
        raise UsageError(str(e)) from e
    if not added and not removed:
        raise UsageError("no tag changes given: write +TAG to add a tag, -TAG to remove one")
    for what, data in _annotate(Archive(archive), names, {"add": added, "remove": removed}):
        write_line(out, printable(f"{what}: tags {', '.join(data['tags']) or '(none)'}"))
    return 0


def _annotate(
    store: Archive, names: Sequence[str], entry: dict[str, Any]
) -> list[tuple[str, Mapping[str, Any]]]:
    """Annotate each run or sweep (`s0001`) named; all are resolved before any is changed."""
    sweeps = Sweeps(store)
    targets = [
        ("sweep", sweeps.resolve(name)) if _is_sweep(name) else ("run", store.resolve(name))
        for name in names
    ]
    done: list[tuple[str, Mapping[str, Any]]] = []
    for kind, found in targets:
        data = sweeps.annotate(found, entry) if kind == "sweep" else store.annotate(found, entry)
        done.append((f"{kind} {found}", data))
    return done


def _is_sweep(name: str) -> bool:
    return name[:1] == "s" and name[1:].isdigit()

"""`expman start`: open a new run with its hypothesis, before running anything."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from expman.errors import UsageError
from expman.expfile import loading
from expman.output import printable, write_line
from expman.running.openrun import open_record, repair
from expman.running.session import open_or_start
from expman.running.state import State
from expman.store.archive import Archive


def start(
    *, path: Path, display: str, hypothesis: str | None, overrides: Sequence[str], out: TextIO
) -> int:
    """Allocate the next run id and write its record with status `started`.

    `-s` overrides given here apply to every attempt of the run.
    """
    state = State(path.parent)
    config = loading.load(path, display, overrides, cache=state)
    with state.lock("start"):
        repair(config.root)
        found = open_record(config.root)
        if found is not None:
            raise UsageError(f"run {found[1]['id']} is still open: `expman end` closes it first")
        archive = Archive(config.root / config.archive)
        run = open_or_start(config, state, archive, hypothesis)
        run["start_overrides"] = dict(config.overrides)
        archive.write(run)
    write_line(out, printable(f"started run {run['id']}: {run['hypothesis'] or '(no hypothesis)'}"))
    return 0

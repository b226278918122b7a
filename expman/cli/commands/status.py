"""`expman status`: the open run, and for each pre-run step whether it would run and why."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TextIO

from expman.cli.commands.watch import line
from expman.errors import ConfigError
from expman.expfile import loading, location
from expman.observe.inflight import describe, in_flight
from expman.output import printable, style, write_line
from expman.running import engine
from expman.running.openrun import open_record, repair_if_idle
from expman.running.session import Session
from expman.running.state import State
from expman.slurm.track import reconcile, state_of
from expman.store import record
from expman.store.archive import Archive


def status(*, path: Path, display: str, out: TextIO, err: TextIO) -> int:
    """Print the state of the experiment; runs nothing and changes nothing but doit's cache.

    The open run is shown even while the expfile is half-edited; the pre-run steps then
    give way to the expfile's problems.
    """
    root = path.parent
    write_line(out, style(f"experiment in {display}", "bold", out))
    repair_if_idle(root)
    archive = Archive(root / location.archive_setting(path))
    reconcile(archive)  # Slurm jobs that are gone, when a record still says otherwise
    found = open_record(root)
    if found is None:
        ids = archive.ids()
        last = f" (last: {ids[-1]})" if ids else ""
        write_line(out, f"no open run{last}: `expman run` starts the next one")
    else:
        _, run = found
        attempts = len(run["attempts"])
        write_line(
            out,
            printable(
                f"open run {run['id']}: {state_of(run)}, {attempts} attempt"
                f"{'' if attempts == 1 else 's'}, started {run['started']}"
            ),
        )
        if run.get("hypothesis"):
            write_line(out, printable(f"  hypothesis: {run['hypothesis']}"))
        if run["status"] == record.RUNNING:
            write_line(out, "  now: " + line(describe(archive, run, time.time()), out, trend=False))
    open_uid = found[1]["uid"] if found is not None else None
    flying = [f for f in in_flight(archive) if f.run.get("uid") != open_uid]
    if flying:
        write_line(out, f"{len(flying)} more run(s) in flight in the archive: `expman watch`")
    try:
        config = loading.load(path, display, cache=State(root))
    except ConfigError as e:
        write_line(out, style("the expfile has problems, so the steps are unknown:", "red", out))
        write_line(out, printable(str(e)))
        return 0
    steps = engine.status(config, Session(config, (out, err)))
    if steps:
        write_line(out, "pre-run steps:")
    width = max((len(s.step.task_name) for s in steps), default=0)
    for step in steps:
        if step.would_run:
            verdict = style("would run", "yellow", out) + ": " + printable("; ".join(step.reasons))
        else:
            verdict = style("up to date", "green", out) + ": would be skipped"
        write_line(out, f"  {step.step.task_name:<{width}}  {verdict}")
    others = [s.task_name for s in config.steps if s.stage != "pre-run"]
    write_line(out, printable(f"always run: {', '.join(others)}"))
    return 0

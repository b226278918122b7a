"""The experiment's open run: finding it, and repairing what a dead runner left.

Only one command at a time holds the experiment's lock (`state.lock`), and the kernel
releases it when its holder dies. So a command holding the lock knows that no runner is
alive: an open run whose record still says `running` was left by one that was killed.
`repair` then stops the processes that run left (found by their `EXPMAN_RUN_UID`) and
records the run as `interrupted`.
"""

from __future__ import annotations

import time
from pathlib import Path

from expman import processes, record
from expman.archive import Archive
from expman.errors import ArchiveError, UsageError
from expman.state import State

RUN_MARKER = "EXPMAN_RUN_UID"  # in every stage's environment: finds a dead run's processes


def open_record(root: Path, include_ended: bool = False) -> tuple[Archive, record.Record] | None:
    """The open run of the experiment at `root` (its archive and record), or None.

    With `include_ended`, also a run whose `end` was interrupted before it finished.
    """
    current = State(root).open_run()
    if current is None:
        return None
    archive = Archive(root / current.archive)
    try:
        run = archive.read(current.run_id)
    except ArchiveError:
        return None
    if run.get("uid") != current.uid or (run.get("ended") is not None and not include_ended):
        return None
    return archive, run


def repair(root: Path) -> None:
    """Call holding the lock: a `running` open run is a dead one; stop and record it."""
    found = open_record(root, include_ended=True)
    if found is None or found[1].get("status") != record.RUNNING:
        return
    archive, run = found
    leftovers = processes.stray_processes(f"{RUN_MARKER}={run['uid']}")
    processes.stop_processes(leftovers)
    record.runner_died(run, len(leftovers), time.time())
    archive.write(run)


def repair_if_idle(root: Path) -> None:
    """`repair`, if no command holds the lock (one that does may be running the run)."""
    try:
        with State(root).lock("repair"):
            repair(root)
    except UsageError:
        pass  # busy: the holder is alive, and its record tells the truth

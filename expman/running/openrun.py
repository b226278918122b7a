"""The experiment's open run: finding it, and repairing what a dead runner left.

Which run is open is said twice: in `.expman/current.json` (quick to read) and by a
marker in the archive (`<archive>/.open/<uid>.json`, naming the experiment's folder and
host). `.expman/` is disposable: when it is gone, the marker finds the open run.

Only one command at a time holds the experiment's lock (`state.lock`), and the kernel
releases it when its holder dies. So a command holding the lock knows that no runner is
alive, unless `.expman/` (and the lock file in it) was removed under a live runner: the
attempt's record names its runner (pid, process start time, host), and a runner still
alive on this host is never repaired. Otherwise a `running` open run was left by a
runner that was killed: `repair` stops the processes that run left (found by their
`EXPMAN_RUN_UID`) and records the run as `interrupted`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from expman import processes
from expman.errors import ArchiveError, UsageError
from expman.expfile import location
from expman.observe import heartbeat, series, seriesreader
from expman.running.state import REPAIR, OpenRun, State
from expman.slurm.environment import SUBMITTED_RUN
from expman.store import record
from expman.store.archive import Archive

RUN_MARKER = "EXPMAN_RUN_UID"  # in every stage's environment: finds a dead run's processes


def open_record(root: Path, include_ended: bool = False) -> tuple[Archive, record.Record] | None:
    """The open run of the experiment at `root` (its archive and record), or None.

    With `include_ended`, also a run whose `end` was interrupted before it finished.
    """
    current = State(root).open_run() or _from_archive(root)
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


def mark_open(root: Path, state: State, archive: Archive, setting: str, run: record.Record) -> None:
    """Record in the archive, then in `.expman/`, that `run` is this experiment's open run."""
    archive.mark_open(
        {
            "uid": run["uid"],
            "id": run["id"],
            "archive": setting,
            "experiment": str(root.resolve()),
            "host": processes.host(),
        }
    )
    state.set_open_run(OpenRun(run["id"], run["uid"], setting))


def mark_closed(state: State, archive: Archive, run: record.Record) -> None:
    """The run is closed: its marker goes, then `.expman/`'s note of it."""
    archive.unmark_open(run["uid"])
    state.set_open_run(None)


def _from_archive(root: Path) -> OpenRun | None:
    """The open run that the archive's markers give this experiment (`.expman/` lost)."""
    setting = location.archive_setting(root / location.EXPFILE)
    here, host = str(root.resolve()), processes.host()
    for marker in Archive(root / setting).open_markers():
        if marker.get("experiment") == here and marker.get("host") == host:
            try:
                return OpenRun(str(marker["id"]), str(marker["uid"]), setting)
            except KeyError:
                continue
    return None


def runner(pid: int | None = None) -> dict[str, Any]:
    """What the record says of the process running an attempt: enough to tell later
    whether that very process is still alive."""
    pid = os.getpid() if pid is None else pid
    return {"pid": pid, "host": processes.host(), "start_ticks": processes.start_time(pid)}


def live_runner(run: record.Record) -> dict[str, Any] | None:
    """The runner of the run's current attempt, when it is alive on this host."""
    if run.get("status") != record.RUNNING or not run.get("attempts"):
        return None
    found = record.current_attempt(run).get("runner")
    if not isinstance(found, dict) or found.get("host") != processes.host():
        return None
    pid = found.get("pid")
    if not isinstance(pid, int) or pid == os.getpid():
        return None
    ticks = found.get("start_ticks")
    if processes.same_process_alive(pid, ticks if isinstance(ticks, int) else None):
        return found
    return None


def repair(root: Path) -> None:
    """Call holding the lock: a `running` open run is a dead one; stop and record it.

    A runner that is still alive (its lock was lost with `.expman/`) is not dead: the
    command is refused, as it would have been by the lock.
    """
    found = open_record(root, include_ended=True)
    if found is None or found[1].get("status") != record.RUNNING:
        return
    archive, run = found
    alive = live_runner(run)
    if alive is not None:
        raise UsageError(
            f"this experiment is busy: run {run['id']} is being run by pid {alive['pid']}; "
            "wait for it to finish"
        )
    leftovers = processes.stop_all(f"{RUN_MARKER}={run['uid']}")
    record.runner_died(run, leftovers, time.time())
    _keep_series(archive, run)
    archive.write(run)
    series.discard(archive.run_dir(run["id"]))


def _keep_series(archive: Archive, run: record.Record) -> None:
    """What the dead attempt's stages logged is summarised and stored, as at a normal end."""
    run_dir = archive.run_dir(run["id"])
    (run_dir / heartbeat.FILE).unlink(missing_ok=True)
    reader = seriesreader.Reader(series.stream(run_dir))
    problem = series.keep(reader, run_dir, archive.objects)
    record.add_series(run, reader.summary(), problem)


def refuse_if_queued(run: record.Record) -> None:
    """A run queued on Slurm is its job's to run or end (the job's own `expman run`, which
    carries the run's uid, is let in)."""
    if run.get("status") != record.QUEUED or os.environ.get(SUBMITTED_RUN) == run["uid"]:
        return
    job = record.backend_of(run).get("job_id")
    raise UsageError(
        f"run {run['id']} is queued on Slurm (job {job}): `expman cancel {run['id']}` first, "
        "or wait for it"
    )


def repair_if_idle(root: Path) -> None:
    """`repair`, if no command holds the lock; never waits, never makes a writer wait
    longer than the repair takes (writers wait for a `repair` holder: see `state`)."""
    try:
        with State(root).lock(REPAIR, wait=False):
            repair(root)
    except UsageError:
        pass  # busy: the holder is alive, and its record tells the truth

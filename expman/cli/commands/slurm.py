"""`expman run --on slurm` and `expman cancel RUN|SWEEP`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from expman.errors import UsageError
from expman.expfile import loading
from expman.output import write_line
from expman.running.slurm_submit import job_name, submit_run
from expman.running.state import State
from expman.slurm import scheduler, track
from expman.slurm.settings import settings
from expman.store import record
from expman.store.archive import Archive
from expman.sweeps.slurm import cancel_sweep
from expman.sweeps.slurm import job_name as sweep_job_name
from expman.sweeps.store import Sweeps


def run_on_slurm(
    *,
    path: Path,
    display: str,
    overrides: Sequence[str],
    passed: Sequence[str],
    slurm: Sequence[str],
    out: TextIO,
) -> int:
    """Validate here (bad input is said now, not in a job's log), then queue the job."""
    config = loading.load(path, display, overrides, cache=State(path.parent))
    return submit_run(config, settings(config.slurm, slurm), passed, out)


def cancel(*, archive: Path, target: str, out: TextIO) -> int:
    """scancel a run's job, or every job of a sweep, never another job its record names;
    record what no job will record."""
    store = Archive(archive)
    if target.startswith("s") and target[1:].isdigit():
        return _cancel_sweep(store, target, out)
    run_id = store.resolve(target)
    run = store.read_valid(run_id)
    backend = record.backend_of(run)
    if backend.get("name") != "slurm" or not backend.get("job_id"):
        raise UsageError(
            f"run {run_id} is not a Slurm job: a run on this machine stops with Ctrl-C "
            "(or `kill` of its expman)"
        )
    if run.get("status") not in (record.QUEUED, record.RUNNING):
        raise UsageError(f"run {run_id} is {run.get('status')}: nothing to cancel")
    job_id = track.own_job(run_id, backend, _job_name(store, run_id, run))
    scheduler.cancel([job_id])
    if run.get("status") == record.QUEUED:
        # A pending job never starts: no process of it will record anything.
        track.interrupt(store, run_id, run["uid"], f"cancelled: Slurm job {job_id}")
    write_line(out, f"run {run_id}: Slurm job {job_id} cancelled")
    return 0


def _job_name(store: Archive, run_id: str, run: record.Record) -> str:
    """The name expman gave the run's job: its own, or its sweep's (a point's task)."""
    tag = run.get("sweep")
    if not isinstance(tag, dict):
        return job_name({**run, "id": run_id})
    sweeps = Sweeps(store)
    if tag["id"] not in sweeps.ids():
        raise UsageError(
            f"run {run_id}: its sweep {tag['id']!r} is not in this archive: nothing cancelled"
        )
    return sweep_job_name(sweeps, tag["id"])


def _cancel_sweep(store: Archive, target: str, out: TextIO) -> int:
    sweeps = Sweeps(store)
    sweep_id = sweeps.resolve(target)
    count = cancel_sweep(sweeps, sweep_id)
    write_line(out, f"sweep {sweep_id}: {count} Slurm job array(s) cancelled")
    return 0

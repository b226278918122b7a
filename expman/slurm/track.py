"""Re-attaching from the files: what became of the Slurm jobs of open runs and sweeps.

Records are the truth. Only a run that is `queued`, or `running` with an overdue
heartbeat, is looked up, all in one `squeue` call; a job that Slurm has finished or
forgotten while its record still says `queued` or `running` is recorded `interrupted`,
with the reason (squeue's state, or that the job vanished: cancelled before it started,
its node lost, or purged after `MinJobAge`). A live job is never touched.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from expman.errors import ArchiveError, UsageError
from expman.observe import heartbeat
from expman.slurm import scheduler
from expman.store import record
from expman.store.archive import Archive

VANISHED = "its Slurm job {job} vanished (cancelled before it started, its node lost, or purged)"


def reconcile(archive: Archive, now: float | None = None) -> list[str]:
    """Record the open Slurm runs whose jobs are gone; return their ids."""
    now = time.time() if now is None else now
    candidates = []
    for marker in archive.open_markers():
        try:
            run = archive.read(str(marker.get("id")))
        except ArchiveError:
            continue
        backend = record.backend_of(run)
        if backend.get("name") != "slurm" or not backend.get("job_name"):
            continue
        if run.get("status") == record.QUEUED:
            candidates.append(run)
        elif run.get("status") == record.RUNNING:
            beat = heartbeat.read(archive.run_dir(run["id"]))
            attempt = record.current_attempt(run) if run["attempts"] else {}
            started = attempt.get("started_epoch")
            if heartbeat.overdue(beat, started if isinstance(started, int | float) else None, now):
                candidates.append(run)
    if not candidates or scheduler.available() is not None:
        return []
    names = {str(r["backend"].get("job_name")) for r in candidates}
    try:
        listed = scheduler.jobs(names)
    except scheduler.SlurmError:
        return []  # no answer to trust: the records stay as they are, until one comes
    changed = []
    for run in candidates:
        backend = run["backend"]
        if not backend.get("job_id"):  # the submitter died between sbatch and the record
            adopted = _adopt(archive, run, listed)
            if adopted is not None:
                changed.append(run["id"])
            continue
        job_id = listed_id(backend)
        job = listed.get(job_id)
        if job is not None and job.name != backend.get("job_name"):
            job = None  # the same id, another job: Slurm's ids started again
        if job is not None and job.state not in scheduler.FINISHED:
            continue  # pending, running, completing, requeued: alive
        reason = (
            VANISHED.format(job=job_id)
            if job is None
            else f"its Slurm job {job_id} ended: {scheduler.FINISHED[job.state]}"
        )
        if interrupt(archive, run["id"], run["uid"], reason):
            changed.append(run["id"])
    return changed


def listed_id(backend: record.Backend) -> str:
    """A run's job as `squeue -r` lists it, and `scancel` takes it: its id, or
    `ARRAY_INDEX` for a sweep's point (Slurm knows a task by it, not by its own id)."""
    if backend.get("array_job_id") is not None:
        return f"{backend['array_job_id']}_{backend.get('array_index')}"
    return str(backend["job_id"])


def own_job(run_id: str, backend: record.Backend, name: str) -> str:
    """The run's job (`listed_id`), when Slurm lists it under `name`, the name expman gave
    it; else `UsageError` naming the run: a record edited by hand, or from elsewhere, may
    name any job of the user, or an option."""
    job_id = listed_id(backend)
    if job_id not in scheduler.named(name):
        raise UsageError(
            f"run {run_id}: Slurm lists no job {job_id} named {name}: it ended, or it is "
            "not this run's; nothing cancelled"
        )
    return job_id


def _adopt(archive: Archive, run: record.Record, listed: dict[str, scheduler.Job]) -> str | None:
    """A queued run with no job id: its job, found by name, or (none after a minute) the
    run interrupted. Returns the id given to the run, or None."""
    name = run["backend"].get("job_name")
    found = sorted((j for j in listed.values() if j.name == name), key=lambda j: j.job_id)
    if not found:
        submitted = run.get("backend", {}).get("submitted_epoch")
        if isinstance(submitted, int | float) and time.time() - submitted > 60:
            interrupt(archive, run["id"], run["uid"], "its submission was interrupted: no job")
        return None
    job_id = found[-1].job_id

    def change(current: record.Record) -> bool:
        backend = record.backend_of(current)
        if current.get("uid") != run["uid"] or backend.get("job_id"):
            return False
        backend["job_id"] = job_id
        return True

    archive.update(run["id"], change)
    return job_id


def interrupt(archive: Archive, run_id: str, uid: str, reason: str) -> bool:
    """Record the run interrupted, if its record (read again) still says it is in flight."""

    def change(run: record.Record) -> bool:
        if run.get("uid") != uid or run.get("status") not in (record.QUEUED, record.RUNNING):
            return False
        if run["status"] == record.RUNNING and run["attempts"]:
            record.runner_died(run, 0, time.time())
            record.current_attempt(run)["reason"] = reason
        else:
            run["status"] = record.INTERRUPTED
        run["backend"]["problem"] = reason
        return True

    try:
        return archive.update(run_id, change) is not None
    except ArchiveError:
        return False


def state_of(run: Mapping[str, Any]) -> str:
    """A run's status, with its job when it is queued on Slurm."""
    backend = record.backend_of(run)
    if run.get("status") == record.QUEUED and backend.get("job_id"):
        return f"queued (Slurm job {backend['job_id']})"
    return str(run.get("status"))

"""The Slurm backend of sweeps: the points as job arrays, and returning at once.

The points to run are split into arrays whose indexes stay under the cluster's
`MaxArraySize` (each task reads its point from the array's list), throttled with `%N`
(`slurm: throttle`). Each array's batch script, list and job are written into the
sweep's folder (`slurm/array-K.sbatch`, `array-K.points`, `jobs.json`); task logs go to
`slurm/logs/`. A task is `python -m expman _array-task`: the same point process as on this
machine, with its claim, workspace, run and end. Nothing stays running here.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from expman import entries, fsutil
from expman.errors import UsageError
from expman.slurm import scheduler, script
from expman.slurm.settings import Settings
from expman.slurm.signals import RESUMABLE
from expman.store import record
from expman.store.archive import Archive
from expman.sweeps.store import Sweeps

FOLDER = "slurm"
JOBS = "jobs.json"


def job_name(sweeps: Sweeps, sweep_id: str) -> str:
    data = sweeps.read(sweep_id)
    return f"expman-{data.get('experiment', 'sweep')}-{sweep_id}-{str(data.get('uid', ''))[:8]}"


def submit(
    root: Path,
    archive: Archive,
    sweeps: Sweeps,
    sweep_id: str,
    todo: list[int],
    settings: Settings,
    retries: int,
) -> list[dict[str, Any]]:
    """Submit the points `todo` as job arrays; returns the jobs, as `jobs.json` keeps them."""
    folder = sweeps.folder(sweep_id) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    size = scheduler.max_array_size()
    known = jobs_of(sweeps, sweep_id)
    submitted: list[dict[str, Any]] = []
    for start in range(0, len(todo), size):
        chunk = todo[start : start + size]
        number = len(known) + len(submitted) + 1
        listing = folder / f"array-{number}.points"
        fsutil.write_atomic(listing, ("\n".join(map(str, chunk)) + "\n").encode())
        about = [
            f"Sweep {sweep_id}: {len(chunk)} points (task i runs the point on line i of",
            f"{listing.name}, counting from 0), each as a run of its own.",
        ]
        entry = [entries.ARRAY_TASK, str(listing.resolve())]
        job = _submit_array(
            root, archive, sweeps, sweep_id, number, len(chunk), settings, retries, about, entry
        )
        submitted.append({**job, "points": chunk})
        fsutil.write_json_atomic(folder / JOBS, [*known, *submitted])
    return submitted


def submit_workers(
    root: Path,
    archive: Archive,
    sweeps: Sweeps,
    sweep_id: str,
    workers: int,
    settings: Settings,
    retries: int,
) -> dict[str, Any]:
    """Submit an adaptive search as one job array of `workers` tasks, each asking for
    trials and running them until the budget is spent (`search_task`); the job, as
    `jobs.json` keeps it."""
    folder = sweeps.folder(sweep_id) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    known = jobs_of(sweeps, sweep_id)
    number = len(known) + 1
    about = [
        f"Sweep {sweep_id}: an adaptive search; each of the {workers} tasks asks for trials",
        "and runs them, each as a run of its own, until the budget is spent.",
    ]
    entry = [entries.SEARCH_TASK]
    job = _submit_array(
        root, archive, sweeps, sweep_id, number, workers, settings, retries, about, entry
    )
    job["workers"] = workers
    fsutil.write_json_atomic(folder / JOBS, [*known, job])
    return job


def _submit_array(
    root: Path,
    archive: Archive,
    sweeps: Sweeps,
    sweep_id: str,
    number: int,
    tasks: int,
    settings: Settings,
    retries: int,
    about: list[str],
    entry: list[str],
) -> dict[str, Any]:
    """Write array `number`'s batch script, running the entry point `entry` (its name,
    then its first arguments) with ROOT ARCHIVE SWEEP RETRIES in each of its `tasks` tasks
    (`python -m expman _array-task ...`), and submit it."""
    folder = sweeps.folder(sweep_id) / FOLDER
    name = job_name(sweeps, sweep_id)
    throttle = f"%{settings.throttle}" if settings.throttle else ""
    path = folder / f"array-{number}.sbatch"
    script.write(
        path,
        name=name,
        output=(folder / "logs" / "%A_%a.out").resolve(),
        options=settings.options(),
        about=about,
        folder=root.resolve(),
        env={RESUMABLE: "1" if settings.resumable else "0"},
        command=entries.command(
            *entry, str(root.resolve()), str(archive.root.resolve()), sweep_id, str(retries)
        ),
        array=f"0-{tasks - 1}{throttle}",
    )
    job_id = scheduler.submit(path)
    return {
        "job_id": job_id,
        "job_name": name,
        "script": f"{FOLDER}/{path.name}",
        "submitted": record.stamp(time.time())[0],
    }


def jobs_of(sweeps: Sweeps, sweep_id: str) -> list[dict[str, Any]]:
    """The job arrays submitted for a sweep, oldest first (none when it ran here)."""
    try:
        found = json.loads((sweeps.folder(sweep_id) / FOLDER / JOBS).read_bytes())
    except (OSError, ValueError):
        return []
    return [j for j in found if isinstance(j, dict)] if isinstance(found, list) else []


def waiting(sweeps: Sweeps, sweep_id: str) -> dict[int, str]:
    """Points of the sweep whose task Slurm has not started: `queued (job 12_3)` while it
    is pending, `vanished (...)` when Slurm no longer has it. One `squeue` call."""
    arrays = jobs_of(sweeps, sweep_id)
    if not arrays or scheduler.available() is not None:
        return {}
    try:
        listed = scheduler.jobs({str(a.get("job_name")) for a in arrays})
    except scheduler.SlurmError:
        return {}  # no answer to trust: say nothing of the points Slurm holds
    found: dict[int, str] = {}
    for array in arrays:
        name = array.get("job_name")
        # A pending array may show as one row (`12_[3-8%2]`) until its tasks start.
        whole = [j for j in listed.values() if j.job_id.startswith(f"{array['job_id']}_[")]
        pending = any(j.name == name for j in whole)
        for task, index in enumerate(array.get("points") or []):
            job_id = f"{array['job_id']}_{task}"
            job = listed.get(job_id)
            if job is not None and job.name != name:
                job = None  # another job has the id: Slurm's ids started again
            if job is None:
                found[int(index)] = f"{'queued' if pending else 'vanished'} (job {job_id})"
            elif job.state in scheduler.FINISHED:
                found[int(index)] = f"{scheduler.FINISHED[job.state]} (job {job_id})"
            elif job.state == "PENDING":
                found[int(index)] = f"queued (job {job_id})"
            else:  # running: its point makes its run in a moment
                found[int(index)] = f"starting (job {job_id})"
    return found


def cancel_sweep(sweeps: Sweeps, sweep_id: str) -> int:
    """scancel the sweep's arrays that Slurm lists, with tasks not yet over, under the
    sweep's job name: never another job, whatever `jobs.json` (a file like any other of
    the archive) says. Running points record themselves interrupted. How many."""
    arrays = [str(a.get("job_id")) for a in jobs_of(sweeps, sweep_id)]
    if not arrays:
        raise UsageError(f"sweep {sweep_id} has no Slurm jobs (it ran on this machine)")
    name = job_name(sweeps, sweep_id)
    alive = {
        job_id.partition("_")[0]
        for job_id, job in scheduler.named(name).items()
        if job.state not in scheduler.FINISHED
    }
    live = [job_id for job_id in arrays if job_id in alive]
    if not live:
        raise UsageError(
            f"sweep {sweep_id}: Slurm lists no job {', '.join(arrays)} in flight named {name}: "
            "they ended, or they are not this sweep's; nothing cancelled"
        )
    scheduler.cancel(live)
    return len(live)

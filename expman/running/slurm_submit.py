"""`expman run --on slurm`: the open run's next attempt, submitted as a Slurm job.

The run is opened (or the open one taken), recorded `queued` with its job, and the batch
script written into its folder (`slurm/job.sbatch`, output in `slurm/job-JOBID.out`);
then `sbatch`, and the command returns. The job runs `expman run` in the experiment
folder (on the cluster's shared file system) with the same overrides: it records the
attempt, its heartbeat and its end, as a local run would.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TextIO

from expman import entries
from expman.errors import UsageError
from expman.expfile.model import Config
from expman.output import style, write_line
from expman.running.openrun import repair
from expman.running.session import open_or_start
from expman.running.state import State
from expman.slurm import scheduler, script
from expman.slurm.environment import SUBMITTED_RUN
from expman.slurm.settings import Settings
from expman.slurm.signals import RESUMABLE
from expman.store import record
from expman.store.archive import Archive

FOLDER = "slurm"


def job_name(run: record.Record) -> str:
    """What `squeue --name` finds: the experiment, the run's id and a piece of its uid
    (job ids alone are no key: they start again at 1 when Slurm loses its state)."""
    return f"expman-{run['experiment']}-{run['id']}-{run['uid'][:8]}"


def submit_run(
    config: Config,
    settings: Settings,
    run_arguments: Sequence[str],
    out: TextIO,
) -> int:
    """Queue the open run's next attempt as a Slurm job; return at once."""
    problem = scheduler.available()
    if problem is not None:
        raise UsageError(f"--on slurm: {problem}")
    state = State(config.root)
    archive = Archive(config.root / config.archive)
    with state.lock("run"):
        repair(config.root)
        run = open_or_start(config, state, archive, hypothesis=None)
        if run["status"] in (record.QUEUED, record.RUNNING):
            job = (run.get("backend") or {}).get("job_id")
            raise UsageError(
                f"run {run['id']} is already {run['status']}"
                + (f" (Slurm job {job})" if job else "")
                + f": wait for it, or `expman cancel {run['id']}`"
            )
        folder = archive.run_dir(run["id"]) / FOLDER
        name = job_name(run)
        path = folder / "job.sbatch"
        script.write(
            path,
            name=name,
            output=(folder / "job-%j.out").resolve(),
            options=settings.options(),
            about=[
                f"Run {run['id']} of the experiment {config.name} ({config.root.resolve()}),",
                "as one attempt: `expman run` with the same overrides.",
            ],
            folder=config.root.resolve(),
            env={SUBMITTED_RUN: run["uid"], RESUMABLE: "1" if settings.resumable else "0"},
            command=entries.command(entries.SLURM_JOB, *run_arguments),
        )
        previous = run["status"]
        run["status"] = record.QUEUED
        run["backend"] = {
            "name": "slurm",
            "job_id": None,
            "job_name": name,
            "script": f"{FOLDER}/job.sbatch",
            "submitted": record.stamp(time.time())[0],
            "submitted_epoch": record.stamp(time.time())[1],
            "requested": settings.record(),
        }
        archive.write(run)
        try:
            job_id = scheduler.submit(path)
        except BaseException:
            run["status"] = previous  # nothing was queued
            run["backend"]["submit_failed"] = True
            archive.write(run)
            raise
        run["backend"]["job_id"] = job_id
        archive.write(run)
    write_line(
        out,
        style(f"run {run['id']} queued as Slurm job {job_id}", "bold", out)
        + f" (squeue --name {name}; expman status; expman cancel {run['id']})",
    )
    return 0

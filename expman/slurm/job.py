"""Inside a Slurm job: `python -m expman.slurm.job [expman run's arguments]`.

The job runs `expman run` in the experiment folder, which records the attempt as any run
(its heartbeat, its stages, its end); the backend of the attempt says which job, node and
resources. Then the job says how the attempt was stopped, if it was: Slurm's warning
signal (USR2, asked for with `--signal=B:USR2@N`) means the time limit or a preemption is
near; a SIGTERM without it, that the job was cancelled. A resumable run (`slurm:
resumable: true`) warned that way is requeued: the restart is a new attempt of the run.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from expman import record
from expman.cli import main as expman
from expman.openrun import open_record
from expman.slurm import scheduler
from expman.slurm.environment import SUBMITTED_RUN

RESUMABLE = "EXPMAN_SLURM_RESUMABLE"
WARNED = "time limit or preemption (Slurm's warning signal)"
STOPPED = "stopped by Slurm: cancelled, or out of time without a warning"


def main(arguments: list[str]) -> int:
    """Run the attempt; record why it stopped; requeue when it should resume."""
    warned = False

    def warning(signum: int, frame: object) -> None:
        nonlocal warned
        warned = True
        signal.signal(signal.SIGUSR2, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGUSR2, warning)
    code = expman(["run", *arguments])
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    settle(Path.cwd(), code, warned)
    return code


def settle(root: Path, code: int, warned: bool) -> None:
    """After `expman run`: the reason of an interrupted attempt, a requeue, or a run that
    never started (the command refused) recorded as such."""
    found = open_record(root)
    uid = os.environ.get(SUBMITTED_RUN)
    if found is None or found[1].get("uid") != uid:
        return
    archive, run = found
    job_id = os.environ.get("SLURM_JOB_ID", "")
    if run["status"] == record.QUEUED:  # `expman run` refused to start it
        run["status"] = record.INTERRUPTED
        run["backend"]["problem"] = (
            f"job {job_id} could not start the attempt (exit {code}): see slurm/job-{job_id}.out"
        )
        archive.write(run)
        return
    if run["status"] != record.INTERRUPTED or not run.get("attempts"):
        return
    attempt = record.current_attempt(run)
    attempt["reason"] = WARNED if warned else STOPPED
    if warned and os.environ.get(RESUMABLE) == "1" and scheduler.requeue(job_id):
        attempt["reason"] += "; requeued"
        run["status"] = record.QUEUED
    archive.write(run)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

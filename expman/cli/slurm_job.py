"""Inside a Slurm job: `python -m expman _slurm-job [expman run's arguments]`.

The job runs `expman run` in the experiment folder, which records the attempt as any run
(its heartbeat, its stages, its end, and why Slurm stopped it: `signals`); the backend of
the attempt says which job, node and resources. A resumable run (`slurm: resumable: true`)
stopped by Slurm's warning is then requeued: the restart is a new attempt of the run.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from expman.cli.main import main as expman
from expman.output import write_error
from expman.running.openrun import open_record
from expman.slurm import scheduler, signals
from expman.slurm.environment import SUBMITTED_RUN
from expman.store import record


def main(arguments: list[str]) -> int:
    """Run the attempt; requeue when it should resume; record a run that never started."""
    signals.install()
    code = expman(["run", *arguments])  # says its own errors
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    try:
        settle(Path.cwd(), code)
    except Exception as e:  # said as cli says it (escaped), in the job's log
        return write_error(sys.stderr, e, "expman: job")
    return code


def settle(root: Path, code: int) -> None:
    """After `expman run`: a requeue of a resumable run warned by Slurm, or a run that
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
    if signals.requeue_wanted() and scheduler.requeue(job_id):
        record.current_attempt(run)["reason"] = f"{signals.WARNED}; requeued"
        run["status"] = record.QUEUED
        archive.write(run)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

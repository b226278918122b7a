"""Slurm's commands, called and read: sbatch, squeue, scancel, scontrol.

One `squeue` call answers for every job at once (`-t all`, so finished jobs show until
Slurm forgets them after `MinJobAge`); a job it does not list is gone. Job ids alone are
no key (they start again at 1 when a controller's state is lost): every expman job's name
carries its run's or sweep's own id and uid, and a listed job counts only if its name
matches (`named`). A job id reaches a Slurm command only in Slurm's own shape (`is_job_id`):
one read from a record or `jobs.json` could otherwise be an option, or several jobs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from expman.errors import ExpmanError, UsageError

# Job states after which the job will not run again (COMPLETING is not one of them).
FINISHED = {
    "BOOT_FAIL": "the node failed to boot",
    "CANCELLED": "cancelled",
    "COMPLETED": "the job completed",
    "DEADLINE": "its deadline passed",
    "FAILED": "the job failed",
    "NODE_FAIL": "its node failed",
    "OUT_OF_MEMORY": "out of memory",
    "PREEMPTED": "preempted",
    "TIMEOUT": "time limit",
    "REVOKED": "revoked",
    "SPECIAL_EXIT": "special exit",
}
_TIMEOUT = 60  # seconds for one Slurm command: a controller may be slow, never forever
_JOB_ID = re.compile(r"[0-9]+(?:_[0-9]+)?")


class SlurmError(ExpmanError):
    """A Slurm command failed, or is not there."""


@dataclass(frozen=True)
class Job:
    """One row of `squeue`: a job, or one task of an array."""

    job_id: str  # 123, or 123_4 for an array task
    name: str
    state: str
    reason: str
    node: str


def available() -> str | None:
    """Why Slurm cannot be used here, or None when sbatch and squeue are on PATH."""
    missing = [c for c in ("sbatch", "squeue", "scancel") if shutil.which(c) is None]
    if missing:
        return f"{', '.join(missing)} not found: is this a Slurm login node?"
    return None


def submit(script: Path, extra: Iterable[str] = ()) -> str:
    """`sbatch --parsable SCRIPT`: the job id."""
    done = _call(["sbatch", "--parsable", *extra, str(script)])
    if done.returncode != 0:
        message = done.stderr.strip() or done.stdout.strip() or f"exit code {done.returncode}"
        raise UsageError(f"sbatch refused {script.name}: {message}")
    job_id = done.stdout.strip().split(";")[0]
    if not job_id.isdigit():
        raise SlurmError(f"sbatch answered {done.stdout.strip()!r}, not a job id")
    return job_id


def jobs(names: Iterable[str]) -> dict[str, Job]:
    """The jobs Slurm still knows with any of these names, by job id (array tasks one by
    one: `123_4`). One call, however many names."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    command = [
        "squeue",
        "-h",
        "-r",
        "-t",
        "all",
        "-o",
        "%i|%j|%T|%r|%N",
        "--name",
        ",".join(wanted),
    ]
    done = _call(command)
    if done.returncode != 0:
        raise SlurmError(f"squeue failed: {done.stderr.strip() or done.returncode}")
    found = {}
    for line in done.stdout.splitlines():
        parts = line.split("|")
        if len(parts) != 5 or not parts[0].strip() or not parts[2].strip().isupper():
            # Not what was asked for: nothing can be concluded from this answer (a job
            # missing from it must not be taken for a job that is gone).
            raise SlurmError(f"squeue answered a line it should not have: {line[:80]!r}")
        job = Job(*(p.strip() for p in parts))
        found[job.job_id] = job
    return found


def named(name: str) -> dict[str, Job]:
    """The jobs Slurm still knows under exactly this name, by job id (see `jobs`)."""
    return {job_id: job for job_id, job in jobs([name]).items() if job.name == name}


def is_job_id(text: str) -> bool:
    """Whether `text` is a job id as Slurm writes one: `123`, or `123_4` for an array task."""
    return _JOB_ID.fullmatch(text) is not None


def cancel(job_ids: Iterable[str], signal: str | None = None) -> None:
    """`scancel` the jobs (array tasks as `123_4`; a whole array as `123`); `SlurmError`,
    cancelling nothing, when one is not a job id."""
    ids = sorted(set(job_ids))
    if not ids:
        return
    wrong = [job_id for job_id in ids if not is_job_id(job_id)]
    if wrong:
        raise SlurmError(f"{wrong[0]!r} is not a Slurm job id: nothing cancelled")
    command = ["scancel", *([f"--signal={signal}", "--batch"] if signal else []), *ids]
    done = _call(command)
    if done.returncode != 0:
        raise SlurmError(f"scancel failed: {done.stderr.strip() or done.returncode}")


def requeue(job_id: str) -> bool:
    """`scontrol requeue JOB` (from inside the job): True when Slurm took it."""
    return is_job_id(job_id) and _call(["scontrol", "requeue", job_id]).returncode == 0


def max_array_size() -> int:
    """The cluster's `MaxArraySize`: array indexes must stay below it (default 1001)."""
    done = _call(["scontrol", "show", "config"])
    for line in done.stdout.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "MaxArraySize" and value.strip().isdigit():
            return max(1, int(value.strip()))
    return 1001


def _call(command: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=_TIMEOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "SLURM_TIME_FORMAT": "standard"},
        )
    except FileNotFoundError as e:
        raise SlurmError(f"{command[0]} not found: is this a Slurm login node?") from e
    except subprocess.TimeoutExpired as e:
        raise SlurmError(f"{command[0]} did not answer in {_TIMEOUT} s") from e

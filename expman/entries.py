"""The entry points of expman's own processes, by stable names: what a Slurm batch script
or a spawner writes, `python -m expman _point ...`, never a module's path. A job queued
today runs whatever release is installed when it starts: a module moved since breaks no
job, as long as these names stay. `python -m expman` dispatches on the name before it
imports the command line (`expman/__main__.py`), so a point starts as fast as its module
alone would. Each module named here has a `main(argv) -> int`.
"""

from __future__ import annotations

import sys

POINT = "_point"  # a sweep's point: EXPERIMENT ARCHIVE SWEEP INDEX [RETRIES]
ARRAY_TASK = "_array-task"  # a Slurm array task: LIST EXPERIMENT ARCHIVE SWEEP RETRIES
SEARCH_TASK = "_search-task"  # an adaptive search's Slurm worker: EXPERIMENT ARCHIVE SWEEP RETRIES
SLURM_JOB = "_slurm-job"  # a run's Slurm job: `expman run`'s arguments
MODULES = {
    POINT: "expman.sweeps.point",
    ARRAY_TASK: "expman.sweeps.array_task",
    SEARCH_TASK: "expman.sweeps.search_task",
    SLURM_JOB: "expman.cli.slurm_job",
}


def command(name: str, *args: str) -> list[str]:
    """The command line running entry point `name` with `args`, in this Python."""
    if name not in MODULES:
        raise ValueError(f"{name!r} is no entry point of expman's")
    return [sys.executable, "-m", "expman", name, *args]

"""The entry points of expman's own processes, by stable names: what a Slurm batch script
or a spawner writes, `python -m expman _point ...`, never a module's path. A job queued
today runs whatever release is installed when it starts: a module moved since breaks no
job, as long as these names stay. `python -m expman` dispatches on the name before it
imports the command line (`expman/__main__.py`), so a point starts as fast as its module
alone would. Each module named here has a `main(argv) -> int`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from expman.errors import UsageError

POINT = "_point"  # a sweep's point
ARRAY_TASK = "_array-task"  # a Slurm array task
SEARCH_TASK = "_search-task"  # an adaptive search's Slurm worker
SLURM_JOB = "_slurm-job"  # a run's Slurm job: `expman run`'s arguments
USAGE = {
    POINT: "EXPERIMENT ARCHIVE SWEEP INDEX [RETRIES]",
    ARRAY_TASK: "LIST EXPERIMENT ARCHIVE SWEEP RETRIES",
    SEARCH_TASK: "EXPERIMENT ARCHIVE SWEEP RETRIES",
}
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


def arguments(name: str, argv: Sequence[str], numbers: Sequence[int] = ()) -> list[str]:
    """`argv` of entry point `name`, as many as its usage takes, those at `numbers` whole
    numbers; else `UsageError` naming the usage (expman writes these command lines: a
    wrong one is bad input from elsewhere, never a bug to report)."""
    words = USAGE[name].split()
    least = sum(1 for word in words if not word.startswith("["))
    usage = f"python -m expman {name} {USAGE[name]}"
    if not least <= len(argv) <= len(words):
        raise UsageError(f"{usage}: {len(argv)} arguments given")
    for index in numbers:
        if index < len(argv) and not argv[index].isdigit():
            raise UsageError(f"{usage}: {words[index].strip('[]')} is {argv[index]!r}, no number")
    return list(argv)

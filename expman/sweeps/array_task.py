"""Inside a Slurm array task: `python -m expman _array-task LIST ROOT ARCHIVE SWEEP RETRIES`.

The task's point is the line of LIST numbered by `SLURM_ARRAY_TASK_ID` (from 0), so that
any set of points (a resume runs only some) fits in arrays whose indexes stay under the
cluster's `MaxArraySize`. Slurm's warning signal (USR2) stops the point as SIGTERM does:
its run is recorded `interrupted` with the reason; a resumable sweep's task is requeued
and runs the point again, as a new run of it; `expman sweep --resume` does the same.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from expman import entries
from expman.output import write_error
from expman.slurm import scheduler, signals
from expman.sweeps import point


def main(argv: list[str]) -> int:
    """The task's exit code: its point's (`point.main`, which says its own errors)."""
    try:
        argv = entries.arguments(entries.ARRAY_TASK, argv, numbers=(4,))
        listing, (root, archive, sweep_id, retries) = Path(argv[0]), argv[1:]
        task = int(os.environ["SLURM_ARRAY_TASK_ID"])
        index = listing.read_text(encoding="utf-8").split()[task]
    except Exception as e:  # said as cli says it (escaped), in the task's log
        return write_error(sys.stderr, e, "expman: task")
    signals.install()
    code = point.main([root, archive, sweep_id, index, retries])
    if code == 130 and signals.requeue_wanted():
        scheduler.requeue(os.environ["SLURM_JOB_ID"])  # the task runs the point again
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

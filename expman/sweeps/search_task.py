"""A worker of an adaptive search inside a Slurm array task:

    python -m expman _search-task ROOT ARCHIVE SWEEP RETRIES   (`expman.entries`)

Each task of the search's array loops until the budget is spent: it runs a trial that
was asked but never started (its asker died before running it), or else asks the
sampler for the next trial (`search_ask.ask`, under the sweep's lock), and runs it as a point
of the sweep (`point.run_point`: the claim, the workspace, the run, its end). So the
search goes on with no process on the login node: fire and forget, as a grid sweep on
Slurm. Slurm's warning signal (USR2) interrupts the trial in flight as SIGTERM does; a
resumable sweep's task is requeued and its worker starts again; `expman sweep --resume`
runs what was interrupted and goes on to the budget. Exit: 0 when every trial this
worker ran succeeded, 1 when one failed, 130 interrupted.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from expman import entries
from expman.output import write_error
from expman.processes import sigterm_as_interrupt
from expman.slurm import scheduler, signals
from expman.store.archive import Archive
from expman.sweeps import point, search_ask
from expman.sweeps.backend import CLAIMED
from expman.sweeps.store import Sweeps


def work(root: Path, archive: Archive, sweep_id: str, retries: int) -> int:
    """Run trials until the budget is spent; the worker's exit code."""
    worst = 0
    while True:
        index = unstarted(archive, sweep_id)
        fresh = index is not None
        if index is None:
            asked = search_ask.ask(archive, sweep_id)
            if asked is None:
                return worst
            index = asked.index
        code = point.run_point(root, archive, sweep_id, index, retries, unstarted=fresh)
        if code == 130:
            return 130
        _ready_for_the_next_trial()
        if code not in (0, CLAIMED):
            worst = 1


def _ready_for_the_next_trial() -> None:
    """Undo what a pruned trial left in this process: its pruner stopped it with SIGTERM,
    after which SIGTERM is ignored (a second one must not cut the trial's cleanup), and
    its reason said. Else the worker's next pruned trial would run on to its end, and a
    `scancel` would stop no trial."""
    signals.stopping(None)
    sigterm_as_interrupt()


def unstarted(archive: Archive, sweep_id: str) -> int | None:
    """The first asked trial that no process runs nor ever opened a run for."""
    sweeps = Sweeps(archive)
    noted = sweeps.noted(sweep_id)
    held = dict(sweeps.claims(sweep_id).held())
    for planned in sweeps.plan(sweep_id):
        if planned.index not in noted and planned.index not in held:
            return planned.index
    return None


def main(argv: list[str]) -> int:
    """The task's exit code; its errors said (escaped) in the task's log."""
    sigterm_as_interrupt()
    try:
        argv = entries.arguments(entries.SEARCH_TASK, argv, numbers=(3,))
        root, archive, sweep_id, retries = Path(argv[0]), Path(argv[1]), argv[2], int(argv[3])
        signals.install()
        code = work(root, Archive(archive), sweep_id, retries)
    except KeyboardInterrupt:
        code = 130
    except Exception as e:
        return write_error(sys.stderr, e, "expman: search task")
    if code == 130 and signals.requeue_wanted():
        scheduler.requeue(os.environ["SLURM_JOB_ID"])  # the worker starts again
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""How Slurm stops a job, told apart: its warning signal, or SIGTERM.

A job asks for `--signal=B:USR2@N`: USR2 comes N seconds before the time limit (or a
preemption). `install` makes it stop the attempt as Ctrl-C does, and remembers why; a
SIGTERM inside a Slurm job without that warning is a cancel (`scancel`) or a limit reached
without warning. `reason()` is what the interrupted attempt records.
"""

from __future__ import annotations

import os
import signal

WARNED = "time limit or preemption (Slurm's warning signal)"
STOPPED = "stopped by Slurm: cancelled, or out of time without a warning"
RESUMABLE = "EXPMAN_SLURM_RESUMABLE"  # "1" in the batch script of a resumable run

warned = False
_because: str | None = None  # why this process stops its attempt itself (`stopping`)


def install() -> None:
    """Let Slurm's warning (USR2) stop the attempt, as Ctrl-C does."""

    def warning(signum: int, frame: object) -> None:
        global warned
        warned = True
        signal.signal(signal.SIGUSR2, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGUSR2, warning)


def stopping(why: str | None) -> None:
    """Say why this process is about to stop its own attempt (a pruned trial of a
    search): the interrupted attempt records it as its reason (None: no longer)."""
    global _because
    _because = why


def reason() -> str | None:
    """Why an interrupted attempt of this process stopped: it stopped itself
    (`stopping`), or Slurm stopped it."""
    if _because is not None:
        return _because
    if warned:
        return WARNED
    if "SLURM_JOB_ID" in os.environ:
        return STOPPED
    return None


def requeue_wanted() -> bool:
    """Warned, in a job whose run can resume: it should be requeued."""
    return warned and os.environ.get(RESUMABLE) == "1"

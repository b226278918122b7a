"""Processes expman started and may have to stop: finding a run's leftovers, liveness,
and what a process of expman's sets up about itself (signals, `prctl`).

Linux only where it reads /proc or calls `prctl`; elsewhere no leftovers are found, and
the record still says what ran.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

GRACE_SECONDS = 5.0


def environ_holds(environ: bytes, marker: str) -> bool:
    """Whether a process's environment (the bytes of `/proc/PID/environ`) holds `marker`
    (NAME=VALUE) as a variable of its own: not the end of another's name
    (`OLD_EXPMAN_RUN_UID=...`) nor of another's value."""
    return b"\0" + marker.encode() + b"\0" in b"\0" + environ + b"\0"


def stray_processes(marker: str, children: bool = False) -> list[int]:
    """Processes whose environment holds `marker` (NAME=VALUE): a run's leftovers. With
    `children`, the steps this process started too (`_steps_started`): one forked for a
    step that an interrupt met before its exec still has this process's environment,
    without the marker, and gets it only once it runs the step."""
    me = os.getpid()
    found = [pid for pid in _pids() if pid != me and _environ_holds(pid, marker)]
    if children:
        found.extend(pid for pid in _steps_started(me) if pid not in found)
    return found


def working_in(folder: Path) -> bool:
    """Whether a process other than this one works in `folder`: its working folder, or
    the program it runs, is below it (Linux, from /proc; where there is no /proc, it
    cannot be told: True). A process whose folder is not ours to read is left out."""
    if not os.path.isdir("/proc/self"):  # noqa: PTH112
        return True
    me = os.getpid()
    inside = str(folder.resolve())
    for pid in _pids():
        if pid == me:
            continue
        for link in ("cwd", "exe"):
            try:
                target = os.readlink(f"/proc/{pid}/{link}")  # noqa: PTH115
            except OSError:
                continue
            if target == inside or target.startswith(inside + "/"):
                return True
    return False


def _pids() -> list[int]:
    """Every process's pid, as /proc lists them."""
    try:
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]  # noqa: PTH208
    except OSError:
        return []


def _environ_holds(pid: int, marker: str) -> bool:
    """Whether process `pid` has `marker` in its environment (False when it is gone or
    not ours to read). A plain unbuffered read: this runs for every process on the
    machine at the end of each attempt."""
    try:
        with open(f"/proc/{pid}/environ", "rb", buffering=0) as f:  # noqa: PTH123
            return environ_holds(f.readall(), marker)
    except OSError:
        return False


def _steps_started(parent: int) -> list[int]:
    """The steps `parent` started that are still alive (`_is_step`): its children as the
    kernel lists them per thread, or, where it does not, found among all processes."""
    try:
        tasks = os.listdir(f"/proc/{parent}/task")  # noqa: PTH208
        listed = [
            int(pid)
            for task in tasks
            for pid in Path(f"/proc/{parent}/task/{task}/children").read_text().split()
        ]
    except (OSError, ValueError):
        listed = _pids()  # a kernel without CONFIG_PROC_CHILDREN
    return [pid for pid in listed if _is_step(pid, parent)]


def _is_step(pid: int, parent: int) -> bool:
    """Whether process `pid` is a step `parent` started: a living (not zombie) child of
    it that leads a session of its own (steps start in their own session, before their
    exec). Other children (a library's helper process, doit's workers) are none of the
    run's."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = text.rpartition(")")[2].split()
    state, ppid, session = fields[0], int(fields[1]), int(fields[3])
    return state != "Z" and ppid == parent and session == pid


def stop_all(marker: str, rounds: int = 5, children: bool = False) -> int:
    """Stop every process whose environment holds `marker` (and, with `children`, this
    process's own living children), looking again after each round: one being stopped
    may have just started a child (which inherits the marker). Returns how many were
    found in all."""
    found = 0
    for _ in range(rounds):
        pids = stray_processes(marker, children)
        if not pids:
            break
        found += len(pids)
        stop_processes(pids)
    return found


def stop_processes(pids: list[int]) -> None:
    """SIGTERM, then SIGKILL what is left after the grace period."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    living = list(pids)
    while living and time.monotonic() < deadline:
        time.sleep(0.05)
        living = [pid for pid in living if alive(pid)]
    for pid in living:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def host() -> str:
    """This machine's name, as `socket.gethostname()` gives it (the kernel's node name),
    without importing `socket` into every command."""
    return os.uname().nodename


def alive(pid: int) -> bool:
    """Whether `pid` is a running process (not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie has finished
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def start_time(pid: int) -> int | None:
    """When `pid` started, in clock ticks since boot (Linux); None when unknown.

    A pid and its start time name one process for good: a pid reused later by another
    process has another start time.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def same_process_alive(pid: int, started: int | None) -> bool:
    """Whether the process `pid` that started at `started` (see `start_time`) still runs."""
    if not alive(pid):
        return False
    return started is None or start_time(pid) in (None, started)


def sigterm_as_interrupt() -> Any:
    """From now on SIGTERM (kill, a batch system's time limit) raises `KeyboardInterrupt`
    as Ctrl-C does, once: a second one is ignored, so that it cannot cut the cleanup. The
    handler it replaces; `ValueError` outside the main thread."""

    def interrupt(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, interrupt)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """SIGTERM and SIGINT wait until the block is done (then they are delivered)."""
    held = {signal.SIGTERM, signal.SIGINT}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15


def signal_on_parent_death(sig: int) -> None:
    """Get `sig` when the parent process dies, however it dies (Linux; elsewhere nothing).
    Called in a child before exec, or in a forked child."""
    _prctl(_PR_SET_PDEATHSIG, sig)


def set_name(name: bytes) -> None:
    """Name this process (Linux: what `ps -o comm` and `pgrep NAME` see)."""
    import ctypes  # only where a process is named

    _prctl(_PR_SET_NAME, ctypes.c_char_p(name))


def ready_to_name() -> None:
    """Load what `signal_on_parent_death` and `set_name` need (ctypes, the C library) in a
    process about to fork children that call them: each would otherwise import ctypes
    anew (5 ms a sweep's point)."""
    _libc()


def _prctl(option: int, argument: Any) -> None:
    libc = _libc()
    if libc is not None:
        with contextlib.suppress(OSError, AttributeError):
            libc.prctl(option, argument)


@functools.cache
def _libc() -> Any:
    """The C library through ctypes, on Linux (None elsewhere, or where it cannot load)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # costs an import only to the processes that call it

    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None

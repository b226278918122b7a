"""The local backend: a sweep's points as processes on this machine, `jobs` at a time.

Each point is a process of its own, in its own session (the terminal's Ctrl-C reaches
the sweep alone, which stops every point with SIGTERM, so each records its run
`interrupted`): a fork of the sweep process where the system has fork (its modules are
loaded already), else `python -m expman _point ...`; both run `point.main`.
GPU slots: with `gpus` ("0,1,2,3") each point gets `gpus_per_run` devices of its own as
`CUDA_VISIBLE_DEVICES`, taken from the free ones and given back when it ends; a point
waits for free slots.
"""

from __future__ import annotations

import contextlib
import gc
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expman import entries
from expman.processes import GRACE_SECONDS, set_name, signal_on_parent_death
from expman.running import spares
from expman.sweeps.backend import CLAIMED, Ask, Event, Tick

POINT_NAME = b"expman-point"  # a forked point's process name, as `ps` and `pgrep` show it
POLL_SECONDS = 0.05  # the longest wait between two looks at the points in flight
HELD = (signal.SIGINT, signal.SIGTERM)  # held back as a point is forked (`_signals_held`)


@dataclass
class Local:
    """Runs points side by side on this machine."""

    root: Path
    archive: Path
    sweep_id: str
    logs: Path
    jobs: int = 1
    gpus: Sequence[str] = ()
    gpus_per_run: int = 1
    retries: int = 0
    fail_fast: bool = False
    running: dict[int, tuple[Any, list[str]]] = field(default_factory=dict)

    def run(
        self,
        indices: Sequence[int],
        event: Event,
        tick: Tick | None = None,
        ask: Ask | None = None,
    ) -> dict[int, int]:
        """Run the points, then (an adaptive search) the points `ask()` gives until it
        gives None; each one's exit code. `tick(running)` is called as it waits. Ctrl-C
        stops them all, then re-raises."""
        queue, codes = list(indices), {}
        free = list(self.gpus)
        if hasattr(os, "fork"):
            from expman.running.inworkspace import ready_to_fork  # as `_fork` imports it

            ready_to_fork(self.root)
        try:
            while queue or self.running or ask is not None:
                while (queue or ask is not None) and len(self.running) < self.jobs:
                    if self.gpus and len(free) < self.gpus_per_run:
                        break
                    index = queue.pop(0) if queue else ask() if ask is not None else None
                    if index is None:
                        ask = None  # the budget is spent
                        break
                    slots = free[: self.gpus_per_run] if self.gpus else []
                    del free[: len(slots)]
                    with _signals_held():  # until the point is one `stop` stops
                        self.running[index] = (self._start(index, slots), slots)
                    event("started", index, None)
                _until_one_ends(self.running.values(), POLL_SECONDS)
                if tick is not None:
                    tick(list(self.running))
                for index, (process, slots) in list(self.running.items()):
                    code = process.poll()
                    if code is None:
                        continue
                    del self.running[index]
                    free.extend(slots)
                    codes[index] = code
                    event("skipped" if code == CLAIMED else "finished", index, code)
                    if code not in (0, CLAIMED) and self.fail_fast:
                        queue.clear()
                        ask = None
                        self.stop()
        except KeyboardInterrupt:
            self.stop()
            raise
        finally:
            spares.remove_all(self.root, self.sweep_id)  # the points' (`point.run_point`)
        return codes

    def stop(self) -> None:
        """SIGTERM every point in flight (each records its run interrupted), SIGKILL what
        is left after the grace period, and wait for them."""
        for process, _ in self.running.values():
            _signal(process, signal.SIGTERM)
        deadline = time.monotonic() + 3 * GRACE_SECONDS
        for process, _ in self.running.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal(process, signal.SIGKILL)
                process.wait()
        self.running.clear()

    def _start(self, index: int, slots: list[str]) -> subprocess.Popen[bytes] | _Forked:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"point-{index}.log"
        args = [str(self.root), str(self.archive), self.sweep_id, str(index), str(self.retries)]
        gpus = ",".join(slots) if self.gpus else None
        if hasattr(os, "fork"):
            return _fork(args, log, gpus)
        env = dict(os.environ)
        if gpus is not None:
            env["CUDA_VISIBLE_DEVICES"] = gpus
        with log.open("ab") as out:
            return subprocess.Popen(
                entries.command(entries.POINT, *args),
                cwd=self.root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
                preexec_fn=_stop_with_sweep,
            )


class _Forked:
    """A point forked from the sweep process: what `Popen` offers the backend."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
            time.sleep(0.01)
        assert self.returncode is not None
        return self.returncode


def _fork(args: list[str], log: Path, gpus: str | None) -> _Forked:
    """Start a point as a fork of this process: its modules are loaded already, which
    spares each point the start of a Python interpreter (most of its cost)."""
    from expman.sweeps import point  # loaded once, in the sweep process

    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return _Forked(pid)
    code = 3
    # What the sweep made is never garbage of the point's: kept out of its collections,
    # which would otherwise walk (and so copy) every page the two processes share.
    gc.freeze()
    try:  # the child: a new session, its output to the point's log, dies with the sweep
        os.setsid()
        _stop_with_sweep()
        set_name(POINT_NAME)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD)  # held by the sweep as it forked
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        if gpus is not None:
            os.environ["CUDA_VISIBLE_DEVICES"] = gpus
        code = point.main(args, spare=True)
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM held back while a point is started, and let go once it is in
    flight: one that came during `fork` would otherwise be raised right after it, in
    an at-fork hook (logging's, which Optuna imports), where Python prints the
    KeyboardInterrupt and drops it: the Ctrl-C lost, the sweep going on to its end."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _until_one_ends(running: Iterable[tuple[Any, list[str]]], timeout: float) -> None:
    """Wait `timeout` seconds, or less: until a point in flight ends (its pidfd becomes
    readable), so that the next point starts as soon as a slot is free. Where the system
    has no pidfd (before Linux 5.3, macOS), just sleep."""
    fds: list[int] = []
    try:
        for process, _ in running:
            fds.append(os.pidfd_open(process.pid))
        if not fds:
            return
        select.select(fds, [], [], timeout)
    except (AttributeError, OSError):  # no pidfd here
        time.sleep(timeout)
    finally:
        for fd in fds:
            os.close(fd)


def _stop_with_sweep() -> None:
    """In the point's process, before exec: get SIGTERM when the sweep dies, however it
    dies, so that the point records its run interrupted and stops."""
    signal_on_parent_death(signal.SIGTERM)


def _signal(process: Any, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)

"""A run's processes are found by the variable its runner gives them, exactly."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

from expman.observe.resources import PREFIX, Sampler
from expman.processes import _is_step, _pids, _steps_started, stop_all, stray_processes

UID = "0123456789abcdef0123456789abcdef"
MARKER = f"EXPMAN_RUN_UID={UID}"


def test_a_run_uid_inside_another_variable_is_no_run_process() -> None:
    """`OLD_EXPMAN_RUN_UID=<uid>`, or a value ending in the marker, does not make a process
    the run's: it is neither stopped with the run nor charged to it."""
    sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
    path = {"PATH": os.environ["PATH"]}
    processes = [
        subprocess.Popen(sleeper, env={**path, "OLD_EXPMAN_RUN_UID": UID}),
        subprocess.Popen(sleeper, env={**path, "NOTE": f"x{MARKER}"}),
        subprocess.Popen(sleeper, env={**path, "EXPMAN_RUN_UID": UID}),  # the run's own
    ]
    try:
        ours = processes[-1].pid
        assert _once_exec_d(lambda: stray_processes(MARKER)) == [ours]
        sampler = Sampler(MARKER)
        assert _once_exec_d(lambda: [0] * int(sampler.sample()[PREFIX + "processes"])) == [0]
    finally:
        for process in processes:
            process.kill()
            process.wait()


def _once_exec_d(find: Callable[[], list[int]]) -> list[int]:
    """What `find` says once the three new processes have surely exec'd (seen between fork
    and exec, a process still has the test's environment)."""
    time.sleep(0.5)
    return sorted(find())


def test_a_child_not_yet_marked_is_stopped_with_the_run() -> None:
    """An interrupt can meet a step between its fork and its exec, when the child still has
    the runner's environment (no marker) and the runner never learnt its pid: the runner's
    steps (children leading sessions of their own) are stopped with the run's marked
    processes; never a zombie, never another child of the runner."""
    sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
    unmarked = subprocess.Popen(sleeper, start_new_session=True)  # as steps start
    helper = subprocess.Popen(sleeper)  # a library's own child process: not a step
    done = subprocess.Popen(["true"], start_new_session=True)
    try:
        time.sleep(0.5)  # `true` has ended: a zombie until waited for
        assert unmarked.pid not in stray_processes(MARKER)
        assert stray_processes(MARKER, children=True) == [unmarked.pid]
        assert stop_all(MARKER, children=True) == 1
        assert unmarked.wait(timeout=10) != 0, "it was stopped"
        assert helper.poll() is None, "a child that is no step is left alone"
    finally:
        for process in (unmarked, helper):
            process.kill()
            process.wait()
        done.wait()


def test_the_steps_listed_by_the_kernel_are_those_a_scan_of_all_processes_finds() -> None:
    """The runner's steps are read from the kernel's lists of its children; where a kernel
    has none, every process is looked at: both find the same steps."""
    sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
    steps = [subprocess.Popen(sleeper, start_new_session=True) for _ in range(2)]
    helper = subprocess.Popen(sleeper)
    try:
        me = os.getpid()
        scanned = [pid for pid in _pids() if _is_step(pid, me)]
        assert sorted(_steps_started(me)) == sorted(scanned)
        assert sorted(scanned) == sorted(step.pid for step in steps)
    finally:
        for process in (*steps, helper):
            process.kill()
            process.wait()

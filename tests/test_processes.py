"""A run's processes are found by the variable its runner gives them, exactly."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

from expman.observe.resources import PREFIX, Sampler
from expman.processes import stop_all, stray_processes

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

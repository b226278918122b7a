"""Overhead: `expman run` + `expman end` on four stages that do nothing.

Baselines, each measured in the same run, alternating with expman:
- a Sacred run of a trivial function with a FileStorageObserver, in a git repository
  (`sacred` from PyPI: `pip install -e ".[bench]"`), run from a venv holding Sacred and
  its requirements alone (`bench.alone`: in the test venv Sacred would import numpy and
  pandas, 2 to 3 x its run); target: at most 0.75 x;
- the floor of doing it our way: two Python start-ups, one importing doit and running
  four `bash -c true` as doit tasks, and `git status` (what a run cannot do without);
- a plain shell script running the four commands, printed for scale only (0.01 s: no
  ratio to it means anything).
Target: run and end together under 0.35 s median, and at most 0.75 x Sacred.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from functools import partial
from pathlib import Path

from bench import alone
from bench.common import EXPMAN, absolute, call, experiment, median, timed

EXPFILE = """\
version: 1
name: overhead
stages:
  pre-run: {cmd: "true"}
  run: {cmd: "true"}
  post-run: {cmd: "true"}
  fetch: {cmd: "true"}
"""

SACRED = """\
from sacred import Experiment
from sacred.observers import FileStorageObserver

ex = Experiment("trivial")
ex.observers.append(FileStorageObserver("sacred_runs"))


@ex.config
def config():
    lr = 0.1


@ex.automain
def main(lr):
    return lr
"""

# The floor: what any run recorded this way needs. One interpreter imports doit and runs
# four shell commands as doit tasks, then git tells the code version; a second
# interpreter starts (for `end`).
FLOOR = """\
import subprocess
from doit.cmd_base import ModuleTaskLoader
from doit.doit_cmd import DoitMain

def task_stage():
    for name in ("pre-run", "run", "post-run", "fetch"):
        yield {"name": name, "actions": ["bash -c true"], "verbosity": 0}

subprocess.run(["git", "status", "--porcelain=v2", "--branch"], capture_output=True)
DoitMain(ModuleTaskLoader(globals()), config_filenames=()).run(
    ["run", "--db-file", ".floor.db", "--backend", "sqlite3"]
)
"""

SACRED_TARGET = 0.75


def main(repeat: int = 15) -> bool:
    """Measure and print; True when the targets are met."""
    with tempfile.TemporaryDirectory() as tmp:
        root = experiment(Path(tmp) / "overhead", EXPFILE)
        call(EXPMAN, "run", cwd=root)  # the first run executes pre-run; later ones skip it
        call(EXPMAN, "end", "-m", "warm-up", cwd=root)
        have_sacred = importlib.util.find_spec("sacred") is not None
        sacred_root = experiment(Path(tmp) / "sacred", "", **{"trivial.py": SACRED})
        floor_root = experiment(Path(tmp) / "floor", "", **{"floor.py": FLOOR})
        sacred_python = alone.make(Path(tmp) / "sacred-venv", "sacred") if have_sacred else None
        if sacred_python is not None:
            alone.check_sacred(sacred_python)
        sacred = partial(call, str(sacred_python), "trivial.py", cwd=sacred_root)
        floor = partial(call, sys.executable, "floor.py", cwd=floor_root)
        second = partial(call, sys.executable, "-c", "pass", cwd=floor_root)
        if have_sacred:
            sacred()
        floor()
        runs, ends, sacreds, floors = [], [], [], []
        for _ in range(repeat):  # alternating, so that load hits each alike
            runs += timed(partial(call, EXPMAN, "run", cwd=root), 1)
            ends += timed(partial(call, EXPMAN, "end", "-m", "x", cwd=root), 1)
            if have_sacred:
                sacreds += timed(sacred, 1)
            floors += timed(lambda: (floor(), second()), 1)
        totals = [r + e for r, e in zip(runs, ends, strict=True)]
        held = alone.distributions(sacred_python) if sacred_python else []
        script = "bash -c true; bash -c true; bash -c true; bash -c true"
        shell = timed(lambda: call("bash", "-c", script, cwd=root), repeat)
    print(
        f"  expman run {median(runs):.3f} s, expman end {median(ends):.3f} s "
        f"(medians of {repeat}); the floor (two interpreters, doit running four "
        f"commands, git status): {median(floors):.3f} s"
    )
    met = absolute(
        "run + end", median(totals), "s", 0.35, f"a plain shell script: {median(shell):.3f} s"
    )
    if sacred_python is None:
        print('  sacred is not installed: `pip install -e ".[bench]"` for its baseline')
        return False
    ratio = median(totals) / median(sacreds)
    floor_ratio = median(floors) / median(sacreds)
    beats = ratio <= SACRED_TARGET
    print(
        f"run + end against Sacred: {median(totals):.3f} s; a Sacred run: "
        f"{median(sacreds):.3f} s (ratio {ratio:.2f}; the floor {floor_ratio:.2f})  "
        f"target <= {SACRED_TARGET:g} x: {'met' if beats else 'MISSED'}"
    )
    print(
        f"  (Sacred ran from a venv of its own holding {len(held)} distributions: "
        f"{', '.join(held)})"
    )
    return met and beats


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)

"""The pruner's check of a running trial, with 300 finished trials: CPU per check.

A trial of a search that prunes is watched every second (`sweeps/prune.Watcher`): each
new step of its series is a check, which asks Optuna's pruner rebuilt from what the
earlier trials reported and gave. Measured: the CPU time (this process's, user and
system) of one check (`Judge.decide`) of trial 300 after a search of 300 trials (random
sampler, median pruner, a stage that logs 20 steps), its reported values growing by one
step per check. Baseline in the same run, in alternating rounds: a judge built afresh
for every check, which reads the search, the plan and every trial's
`intermediate/<i>.json` again (what every check did before the judge was kept).

Run: `python -m bench.prune` (`--trials N`: another number of finished trials; making
them takes about 0.3 s a trial).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import EXPMAN, call, experiment, load, median, report

CURVES = """\
version: 1
name: pruned-bench
vars: {X: 0.0}
stages:
  run: {cmd: python3 train.py}
  fetch: {cmd: "true"}
"""
TRAIN = """\
import json, os
x = float(os.environ["X"])
with open(os.environ["EXPMAN_METRICS"], "a") as f:
    for step in range(1, 21):
        f.write(json.dumps({"step": step, "loss": x + 1.0 / step}) + "\\n")
"""
ROUNDS = 5
CHECKS = 10  # checks per round, the trial one step further at each


def _searched(root: Path, trials: int) -> Path:
    experiment(root, CURVES, **{"train.py": TRAIN})
    args = ["-s", "X=uniform(0,1)", "--search", "random", "--trials", str(trials)]
    args += ["--objective", "series.loss.last", "--prune", "median", "--prune-metric", "loss"]
    call(EXPMAN, "sweep", *args, "--jobs", "2", cwd=root)
    return root


def _cpu_per_check(check: Callable[[dict[int, float]], object]) -> list[float]:
    times = []
    for step in range(1, CHECKS + 1):
        reported = {s: 0.5 + 1.0 / s for s in range(1, step + 1)}
        start = time.process_time()
        check(reported)
        times.append(time.process_time() - start)
    return times


def run(trials: int = 300) -> bool:
    """Measure and print; True (no target: the figure goes into performance.md)."""
    from expman.store.archive import Archive
    from expman.sweeps.plan import Point
    from expman.sweeps.prune import Judge

    with tempfile.TemporaryDirectory() as folder:
        made = time.monotonic()
        root = _searched(Path(folder) / "exp", trials)
        print(f"{trials} trials made in {time.monotonic() - made:.0f} s; {load()}")
        archive = Archive(root / "runs")
        point = Point(trials, {"X": 0.5}, "bench", None)  # the trial after the last
        fresh: list[float] = []
        kept: list[float] = []
        judge = Judge(archive, "s0001", point)
        for _ in range(ROUNDS):
            fresh += _cpu_per_check(lambda r: Judge(archive, "s0001", point).decide(r, {}))
            kept += _cpu_per_check(lambda r: judge.decide(r, {}))
        print(load())
        return report(
            f"a check with {trials} finished trials, judge kept",
            median(kept),
            "s CPU",
            "judge built afresh at each check",
            median(fresh),
        )


if __name__ == "__main__":
    count = int(sys.argv[sys.argv.index("--trials") + 1]) if "--trials" in sys.argv else 300
    run(count)

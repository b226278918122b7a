"""An adaptive search on the one-node Slurm: fire and forget (workers in an array ask
for trials and run them until the budget is spent), with real Optuna."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import records, required
from tests.slurm.conftest import expman, wait_for

required("optuna", "adaptive search needs Optuna: expman[search]")
pytestmark = [pytest.mark.usefixtures("cluster"), pytest.mark.slow]

EXPFILE = """\
version: 1
name: searched-on-slurm
vars: {X: 0.0, PAUSE: 0}
stages:
  run:
    cmd: |
      sleep "$PAUSE"
      python3 -c "import json, os; x = float(os.environ['X']); \\
        json.dump({'loss': (x - 0.25) ** 2}, open('result.json', 'w'))"
  fetch: {cmd: "cp result.json \\"$EXPMAN_OUTPUTS\\"/"}
metrics: outputs/result.json
"""


def test_a_search_on_slurm_is_fire_and_forget_and_resumes_to_a_raised_budget(
    experiment: Callable[..., Path],
) -> None:
    root = experiment(EXPFILE)
    started = time.monotonic()
    args = ["-s", "X=uniform(-1,1)", "--search", "tpe", "--objective", "metrics.loss"]
    done = expman(root, "sweep", *args, "--trials", "5", "--jobs", "2", "--on", "slurm")
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 15, "submission returns at once"
    assert "0 points and 2 search workers queued" in done.stdout
    script = (root / "runs" / "sweeps" / "s0001" / "slurm" / "array-1.sbatch").read_text()
    assert "#SBATCH --array=0-1" in script and "-m expman _search-task" in script
    wait_for(
        lambda: "5 succeeded" in expman(root, "sweep", "status").stdout,
        seconds=240,
        what="five trials",
    )
    runs = records(root)
    assert Counter(r["sweep"]["index"] for r in runs) == Counter(range(5)), "each trial once"
    assert all(r["backend"]["array_job_id"] for r in runs)
    assert all(r["sweep"]["trial"]["sampler"] == "tpe" for r in runs)
    plan = (root / "runs" / "sweeps" / "s0001" / "plan.jsonl").read_text().splitlines()
    assert [json.loads(line)["index"] for line in plan] == list(range(5))

    more = expman(root, "sweep", "--resume", "s0001", "--trials", "7", "--on", "slurm")
    assert more.returncode == 0, more.stderr
    wait_for(
        lambda: "7 succeeded" in expman(root, "sweep", "status").stdout,
        seconds=240,
        what="two more trials",
    )
    assert Counter(r["sweep"]["index"] for r in records(root)) == Counter(range(7))
    status = expman(root, "sweep", "status").stdout
    assert "7 of 7 trials asked (tpe); best of metrics.loss (minimize)" in status


CURVES = """\
version: 1
name: pruned-on-slurm
vars: {X: 0.0}
stages:
  run: {cmd: python3 train.py}
  fetch: {cmd: "true"}
"""
TRAIN = """\
import json, os, time
x = float(os.environ["X"])
with open(os.environ["EXPMAN_METRICS"], "a") as f:
    for step in range(1, 13):
        loss = 10.0 if x > 0.4 else 1.0 / step  # X above 0.4: hopeless, stays high
        f.write(json.dumps({"step": step, "loss": loss}) + "\\n")
        f.flush()
        time.sleep(0.3)
"""
LAST_STEP = 12


def test_a_search_on_slurm_prunes_its_hopeless_trials_inside_the_array_tasks(
    experiment: Callable[..., Path],
) -> None:
    """Each worker runs several trials in one process: every pruned trial is stopped
    there, before its last step, whichever trial of the worker it is."""
    root = experiment(CURVES, **{"train.py": TRAIN})
    args = ["-s", "X=uniform(0,1)", "--search", "random", "--trials", "10", "--seed", "3"]
    args += ["--objective", "series.loss.last", "--prune", "median", "--prune-metric", "loss"]
    started = time.monotonic()
    done = expman(root, "sweep", *args, "--jobs", "2", "--on", "slurm")
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 15, "submission returns at once: no watcher here"

    def finished() -> bool:
        status = expman(root, "sweep", "status").stdout
        return "running" not in status and "queued" not in status and len(records(root)) == 10

    wait_for(finished, seconds=240, what="ten trials")
    runs = records(root)
    assert Counter(r["sweep"]["index"] for r in runs) == Counter(range(10)), "each trial once"
    hopeless = {r["sweep"]["index"] for r in runs if r["vars"]["X"] > 0.4}
    pruned = [r for r in runs if "pruned" in r["sweep"]]
    assert len(pruned) >= 4, "the median pruner stopped hopeless trials"
    tasks = Counter(r["backend"]["array_index"] for r in pruned)
    assert max(tasks.values()) >= 2, "a worker went on after a pruned trial, and pruned again"
    assert {r["sweep"]["index"] for r in pruned} <= hopeless
    for run in pruned:
        where = run["sweep"]["pruned"]
        assert run["status"] == "interrupted", run["attempts"][-1]
        assert 1 <= where["step"] < LAST_STEP and where["value"] == 10.0
        assert run["attempts"][-1]["reason"].startswith(f"pruned at step {where['step']} ")
        assert run["series"]["loss"]["count"] < LAST_STEP, "its stages were stopped"
        assert run["backend"]["array_job_id"], "pruned inside the array task"
    for run in runs:
        if "pruned" not in run["sweep"]:
            assert run["status"] == "succeeded", run["attempts"][-1]
            assert "pruned" not in (run["attempts"][-1].get("reason") or "")
    status = expman(root, "sweep", "status").stdout
    assert f"{len(pruned)} pruned, {10 - len(pruned)} succeeded" in status, status
    assert "10 of 10 trials asked (random)" in status
    again = expman(root, "sweep", "--resume", "s0001", "--on", "slurm")
    assert again.returncode == 0, again.stderr
    assert "0 to run, 0 trials to ask" in again.stderr
    assert "every point has succeeded or waits in Slurm" in again.stdout
    assert len(records(root)) == 10, "a pruned trial is not run again"

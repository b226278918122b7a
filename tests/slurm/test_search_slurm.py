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

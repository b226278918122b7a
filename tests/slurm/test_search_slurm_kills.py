"""Kill harness for an adaptive search on Slurm: its workers, its trials and its whole
job killed at random moments, then resumed (here or on Slurm) to the budget.

Each round queues the search (`--on slurm --jobs 2`, its budget raised by 6), waits for
a worker to start and then a random moment, and `scancel`s one worker task (SIGTERM, as
Slurm cancels, or `-s KILL`), SIGKILLs a trial's stage, or cancels the whole job
(SIGTERM or SIGKILL). Some rounds also resume here at once, beside the workers that
Slurm still runs. Once Slurm lists none of the sweep's jobs, what the archive holds is
checked: every record parses and validates, no trial has two succeeded runs, the plan
is the journal of asked trials (indexes 0..N-1, never past the budget, each run with its
line's values), no stage of any run is left running; some rounds then resume here. At
the end `expman sweep --resume` (here or on Slurm, by chance) until the budget is done:
every trial exactly once succeeded, none running, `sweep status` exact.
EXPMAN_SLURM_KILL_ROUNDS sets the number of rounds (default 4), EXPMAN_KILL_SEED the
seed (printed, to replay a failure).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from expman.processes import stray_processes
from expman.store.record import SCHEMA_PATH
from tests.conftest import records, required
from tests.slurm.conftest import expman, wait_for

required("optuna", "adaptive search needs Optuna: expman[search]")
pytestmark = [pytest.mark.usefixtures("cluster"), pytest.mark.slow]

ROUNDS = int(os.environ.get("EXPMAN_SLURM_KILL_ROUNDS", "4"))
MORE = 6  # trials each round adds to the budget
TRIALS = MORE * ROUNDS
EXPFILE = """\
version: 1
name: killed-search
vars: {X: 0.0, PAUSE: 1.5}
stages:
  run:
    cmd: |
      sleep "$PAUSE"
      python3 -c "import json, os; x = float(os.environ['X']); \\
        json.dump({'loss': (x - 0.25) ** 2}, open('result.json', 'w'))"
  fetch: {cmd: "cp result.json \\"$EXPMAN_OUTPUTS\\"/"}
metrics: outputs/result.json
"""
CURVES = """\
version: 1
name: killed-pruned-search
vars: {X: 0.0}
stages:
  run: {cmd: python3 train.py}
  fetch: {cmd: "true"}
"""
TRAIN = """\
import json, os, time
x = float(os.environ["X"])
with open(os.environ["EXPMAN_METRICS"], "a") as f:
    for step in range(1, 9):
        f.write(json.dumps({"step": step, "loss": 10.0 if x > 0.4 else 1.0 / step}) + "\\n")
        f.flush()
        time.sleep(0.3)
"""
PRUNED = ["--search", "random", "--objective", "series.loss.last"]
PRUNED += ["--prune", "median", "--prune-metric", "loss"]
SEARCHES = {  # the search, and the files of its experiment
    "tpe": (["--search", "tpe", "--objective", "metrics.loss"], {}),
    "pruned": (PRUNED, {"train.py": TRAIN}),
}
RESUME = ["sweep", "--resume", "s0001"]


class Harness:
    def __init__(self, root: Path, seed: int, searched: list[str]) -> None:
        self.root, self.first = root, ["sweep", "-s", "X=uniform(-1,1)", *searched]
        self.chance = random.Random(seed)
        self.schema = json.loads(SCHEMA_PATH.read_text())
        self.folder = root / "runs" / "sweeps" / "s0001"
        self.seen: Counter[str] = Counter()

    def queue(self, budget: int = TRIALS) -> None:
        """Queue the search on Slurm with this budget: its first submission, or a resume."""
        args = RESUME if (self.folder / "sweep.json").exists() else self.first
        done = expman(self.root, *args, "--trials", str(budget), "--jobs", "2", "--on", "slurm")
        assert done.returncode == 0, done.stderr

    def resume_here(self) -> None:
        done = expman(self.root, *RESUME, "--jobs", "2")
        assert done.returncode in (0, 1), done.stderr  # 1: a trial failed (killed before)

    def tasks(self) -> dict[str, str]:
        """The sweep's array tasks Slurm lists, by id (`12_0`): their states."""
        found: dict[str, str] = {}
        try:
            jobs = json.loads((self.folder / "slurm" / "jobs.json").read_text())
        except OSError:
            return found
        for name in {j["job_name"] for j in jobs}:
            listed = subprocess.run(
                ["squeue", "-h", "-r", "-t", "all", "-n", name, "-o", "%i %T"],
                capture_output=True,
                text=True,
            ).stdout
            for line in listed.splitlines():
                job_id, state = line.split()
                found[job_id] = state
        return found

    def in_flight(self) -> list[str]:
        alive = ("PENDING", "RUNNING", "COMPLETING", "CONFIGURING", "REQUEUED", "SUSPENDED")
        return [job for job, state in self.tasks().items() if state in alive]

    def kill(self) -> None:
        """One blow at a random moment of the workers' run: a worker, a trial's stage,
        or the whole job."""
        deadline = time.monotonic() + 60  # the one node may be busy with other jobs
        while "RUNNING" not in self.tasks().values() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(self.chance.uniform(0.0, 5.0))
        what = self.chance.choice(("task TERM", "task KILL", "stage KILL", "job TERM", "job KILL"))
        running = sorted(job for job, state in self.tasks().items() if state == "RUNNING")
        if what.startswith("task") and running:
            task = self.chance.choice(running)
            signalled = ["-s", "KILL"] if what.endswith("KILL") else []
            what += _scancel(*signalled, task)
        elif what.startswith("job") and (flying := self.in_flight()):  # pending ones too
            job = flying[0].partition("_")[0]
            signalled = ["-s", "KILL"] if what.endswith("KILL") else []
            what += _scancel(*signalled, job)
        elif what == "stage KILL" and (stages := self.stages()):
            os.kill(self.chance.choice(stages), signal.SIGKILL)
        else:
            what = "nothing in flight to kill"
        self.seen[what] += 1

    def stages(self) -> list[int]:
        """The processes of the trials' stages running now."""
        found = []
        for run in records(self.root):
            if run["status"] == "running":
                found += stray_processes(f"EXPMAN_RUN_UID={run['uid']}")
        return found

    def settle(self) -> None:
        wait_for(lambda: not self.in_flight(), seconds=120, what="the sweep's Slurm jobs")

    def check(self) -> list[dict[str, Any]]:
        """What must hold whenever and however the search was killed."""
        runs = records(self.root)
        for run in runs:
            jsonschema.validate(run, self.schema)
            assert stray_processes(f"EXPMAN_RUN_UID={run['uid']}") == [], "a stage outlived"
        finished = Counter(r["sweep"]["index"] for r in runs if _finished(r))
        assert all(n == 1 for n in finished.values()), f"a trial finished twice: {finished}"
        lines = (self.folder / "plan.jsonl").read_text().split("\n")[:-1]
        plan = [json.loads(line) for line in lines]
        assert [p["index"] for p in plan] == list(range(len(plan))) and len(plan) <= TRIALS
        for run in runs:
            assert run["vars"]["X"] == plan[run["sweep"]["index"]]["vars"]["X"]
        return runs


def _scancel(*args: str) -> str:
    """`scancel`; what to count when the task ended between its listing and the cancel."""
    done = subprocess.run(["scancel", *args], capture_output=True, text=True)
    return "" if done.returncode == 0 else " (over already)"


def _finished(run: dict[str, Any]) -> bool:
    """A trial's run that finished it: succeeded, or stopped by its pruner."""
    return run["status"] == "succeeded" or "pruned" in run["sweep"]


@pytest.mark.parametrize("kind", sorted(SEARCHES))
def test_a_search_on_slurm_killed_at_random_moments_runs_each_trial_once(
    experiment: Callable[..., Path], kind: str
) -> None:
    seed = int(os.environ.get("EXPMAN_KILL_SEED", str(int(time.time()))))
    print(f"Slurm search kill harness ({kind}): {ROUNDS} rounds, EXPMAN_KILL_SEED={seed}")
    searched, files = SEARCHES[kind]
    harness = Harness(experiment(CURVES if files else EXPFILE, **files), seed, searched)
    started = time.monotonic()
    for number in range(ROUNDS):
        try:
            harness.queue(MORE * (number + 1))
            harness.kill()
            if harness.chance.random() < 0.3:  # beside the workers Slurm still runs
                harness.resume_here()
                harness.seen["resumed here at once"] += 1
            harness.settle()
            harness.check()
            if harness.chance.random() < 0.5:
                harness.resume_here()
                harness.seen["resumed here"] += 1
                harness.check()
        except AssertionError as e:
            raise AssertionError(f"round {number}, EXPMAN_KILL_SEED={seed}: {e}") from e
    for _ in range(4):  # to the budget, here or on Slurm
        if harness.chance.random() < 0.5:
            harness.queue()
            harness.settle()
        else:
            harness.resume_here()
        if {r["sweep"]["index"] for r in harness.check() if _finished(r)} == set(range(TRIALS)):
            break
    runs = harness.check()
    finished = Counter(r["sweep"]["index"] for r in runs if _finished(r))
    assert finished == Counter(range(TRIALS)), f"every trial once, EXPMAN_KILL_SEED={seed}"

    def settled() -> bool:  # a SIGKILLed trial's run: interrupted once its heartbeat is stale
        status = expman(harness.root, "sweep", "status").stdout
        return all(r["status"] != "running" for r in records(harness.root)) and status != ""

    wait_for(settled, seconds=90, what="the killed trials' runs recorded interrupted")
    status = expman(harness.root, "sweep", "status").stdout
    pruned = sum("pruned" in r["sweep"] for r in records(harness.root))
    counts = f"{pruned} pruned, {TRIALS - pruned} succeeded" if pruned else f"{TRIALS} succeeded"
    assert f"\n{counts}\n" in status, status
    assert f"{TRIALS} of {TRIALS} trials asked" in status
    assert all(r["ended"] for r in records(harness.root))
    if kind == "pruned":
        assert pruned, "hopeless trials were pruned"
        for run in records(harness.root):
            if "pruned" in run["sweep"]:
                assert run["vars"]["X"] > 0.4 and run["status"] == "interrupted"
                assert run["attempts"][-1]["reason"].startswith("pruned at step")
    print(f"{ROUNDS} rounds in {time.monotonic() - started:.0f} s: {dict(harness.seen)}")

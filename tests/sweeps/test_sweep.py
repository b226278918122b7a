"""`expman sweep` end to end, with real processes, real git worktrees and real doit:
isolation, edits during a sweep, Ctrl-C and resume, concurrent resumes, failure
policies and GPU slots."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunCli, points_alive, records

Experiment = Callable[..., Path]
BIN = Path(sys.executable).parent

EXPFILE = """\
version: 1
name: sweepy
hypothesis: step and seed
vars:
  STEP: 1
  SEED: 0
  GATE: ""
  FAIL: 0
stages:
  run:
    script: compute.sh
  fetch: {cmd: "cp result.txt \\"$EXPMAN_OUTPUTS\\"/"}
metrics: outputs/result.txt
"""
COMPUTE = """\
#!/bin/bash
set -e
if [ -n "$GATE" ]; then touch "$GATE.$STEP.$SEED"; while [ ! -e "$GATE" ]; do sleep 0.05; done; fi
if [ "$FAIL" = 1 ] && [ ! -e tried ]; then touch tried; exit 3; fi
printf '{"version": "%s", "step": %s, "seed": %s, "gpus": "%s"}' \\
  "$(cat version.txt)" "$STEP" "$SEED" "${CUDA_VISIBLE_DEVICES:-}" > result.txt
"""


@pytest.fixture
def sweepable(experiment: Experiment) -> Path:
    return experiment(EXPFILE, **{"compute.sh": COMPUTE, "version.txt": "one\n"})


def _expman(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "expman"), *args], cwd=root, capture_output=True, text=True, timeout=300
    )


def _background_sweep(root: Path, *args: str, stderr: int = subprocess.DEVNULL) -> Any:
    return subprocess.Popen(
        [str(BIN / "expman"), "sweep", *args],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        text=True,
    )


def _at_the_gate(folder: Path, points: int) -> None:
    """Wait until `points` points wait at the gate (each touches `gate.STEP.SEED`)."""
    deadline = time.monotonic() + 60
    while len(list(folder.glob("gate.*"))) < points:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def _by_point(root: Path) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = {}
    for record in records(root):
        found.setdefault(record["sweep"]["index"], []).append(record)
    return found


def test_a_grid_runs_each_point_as_a_run_of_its_own(sweepable: Path) -> None:
    result = _expman(
        sweepable, "sweep", "-m", "a 3x2 grid", "-s", "STEP=1..3", "-s", "SEED=7,8", "--jobs", "2"
    )
    assert result.returncode == 0, result.stderr
    runs = records(sweepable)
    assert len(runs) == 6 and {r["status"] for r in runs} == {"succeeded"}
    assert {r["hypothesis"] for r in runs} == {"a 3x2 grid"}
    assert sorted((r["vars"]["STEP"], r["vars"]["SEED"]) for r in runs) == [
        (s, d) for s in (1, 2, 3) for d in (7, 8)
    ]
    for run in runs:  # each wrote result.txt at the same relative path: each saw its own
        assert run["metrics"]["step"] == run["vars"]["STEP"]
        assert run["metrics"]["seed"] == run["vars"]["SEED"]
        assert run["sweep"]["id"] == "s0001" and len(run["sweep"]["point"]) == 16
    assert "point 5 (STEP=3, SEED=8): succeeded" in result.stderr
    assert "6 succeeded" in result.stdout
    assert not (sweepable / "result.txt").exists(), "nothing ran in the experiment folder"
    assert not list((sweepable / ".expman" / "workspaces").iterdir())
    status = _expman(sweepable, "sweep", "status")
    assert status.returncode == 0 and "6 succeeded" in status.stdout
    query = _expman(sweepable, "query", "[?sweep.id == 's0001'] | length(@)")
    assert query.stdout.strip() == "6"


def test_plan_prints_the_points_and_runs_nothing(sweepable: Path) -> None:
    result = _expman(
        sweepable,
        "sweep",
        "-s",
        "STEP=loguniform(1e-3,1)",
        "--random",
        "3",
        "--seed",
        "7",
        "--plan",
    )
    assert result.returncode == 0
    assert result.stdout.splitlines()[0].split() == ["point", "STEP", "hash"]
    assert len(result.stdout.splitlines()) == 4
    assert not (sweepable / "runs").exists()


def test_an_edit_during_the_sweep_reaches_no_run(sweepable: Path, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    sweep = _background_sweep(sweepable, "-s", "STEP=1..4", "-s", f"GATE={gate}", "--jobs", "2")
    _at_the_gate(tmp_path, 1)
    (sweepable / "version.txt").write_text("two\n")  # the researcher edits the code
    (sweepable / "expfile.yaml").write_text(EXPFILE.replace("cp result.txt", "false"))
    gate.touch()
    assert sweep.wait(timeout=120) == 0
    assert {r["metrics"]["version"] for r in records(sweepable)} == {"one"}


@pytest.mark.slow
def test_ctrl_c_interrupts_every_point_and_resume_finishes(sweepable: Path, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    sweep = _background_sweep(
        sweepable, "-s", "STEP=1..6", "-s", f"GATE={gate}", "--jobs", "2", stderr=subprocess.PIPE
    )
    _at_the_gate(tmp_path, 2)
    sweep.send_signal(signal.SIGINT)
    _, err = sweep.communicate(timeout=60)
    assert sweep.returncode == 130
    assert "expman sweep --resume s0001" in err
    interrupted = [r for r in records(sweepable) if r["status"] == "interrupted"]
    assert len(interrupted) == 2 and all(r["ended"] for r in interrupted)
    assert points_alive(sweepable) == [], "no point process survives"
    gate.touch()
    resumed = _expman(sweepable, "sweep", "--resume", "s0001", "--jobs", "2")
    assert resumed.returncode == 0, resumed.stderr
    points = _by_point(sweepable)
    assert sorted(points) == list(range(6))
    for runs in points.values():
        assert [r["status"] for r in runs].count("succeeded") == 1, "no point ran twice"
    assert len(records(sweepable)) == 8, "the interrupted runs stay in the history"


@pytest.mark.slow
def test_concurrent_resumes_never_run_one_point_twice(sweepable: Path, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    first = _background_sweep(sweepable, "-s", "STEP=1..8", "-s", f"GATE={gate}")
    _at_the_gate(tmp_path, 1)
    resumes = [_background_sweep(sweepable, "--resume", "s0001", "--jobs", "2") for _ in range(2)]
    time.sleep(2)
    gate.touch()
    for process in [first, *resumes]:
        assert process.wait(timeout=120) in (0, 1)
    points = _by_point(sweepable)
    assert sorted(points) == list(range(8))
    assert all(len(runs) == 1 for runs in points.values()), {i: len(r) for i, r in points.items()}


@pytest.mark.slow
def test_failures_go_on_stop_with_fail_fast_and_retry(sweepable: Path) -> None:
    result = _expman(sweepable, "sweep", "-s", "STEP=1..3", "-s", "FAIL=1")
    assert result.returncode == 1
    assert [r["status"] for r in records(sweepable)] == ["failed"] * 3, "the sweep went on"
    assert "point 0 (STEP=1, FAIL=1): failed" in result.stderr
    kept = sorted(p.name for p in (sweepable / ".expman" / "workspaces").glob("s0001-*"))
    assert kept == ["s0001-0", "s0001-1", "s0001-2"], "a failed point's workspace stays"
    collected = _expman(sweepable, "gc")
    assert "removed the workspace s0001-0" in collected.stdout
    assert not list((sweepable / ".expman" / "workspaces").glob("s0001-*"))
    fast = _expman(sweepable, "sweep", "-s", "STEP=1..3", "-s", "FAIL=1", "--fail-fast")
    assert fast.returncode == 1
    assert len([r for r in records(sweepable) if r["sweep"]["id"] == "s0002"]) == 1
    retried = _expman(sweepable, "sweep", "-s", "STEP=1..2", "-s", "FAIL=1", "--retries", "1")
    assert retried.returncode == 0, retried.stderr
    runs = [r for r in records(sweepable) if r["sweep"]["id"] == "s0003"]
    assert [(r["status"], len(r["attempts"])) for r in runs] == [("succeeded", 2)] * 2


@pytest.mark.slow
def test_gpu_slots_are_never_shared(sweepable: Path, tmp_path: Path) -> None:
    result = _expman(
        sweepable,
        "sweep",
        "-s",
        "STEP=1..6",
        "--jobs",
        "4",
        "--gpus",
        "0,1,2,3",
        "--gpus-per-run",
        "2",
    )
    assert result.returncode == 0, result.stderr
    runs = records(sweepable)
    for run in runs:
        assert run["metrics"]["gpus"] == run["sweep"]["gpus"]
        assert run["sweep"]["gpus"] in ("0,1", "2,3")
    for a in runs:  # two runs at once never hold the same device
        for b in runs:
            if a is not b and a["sweep"]["gpus"] == b["sweep"]["gpus"]:
                assert (
                    a["ended_epoch"] <= b["started_epoch"] or b["ended_epoch"] <= a["started_epoch"]
                )


def test_bad_sweeps_are_refused(sweepable: Path, run_cli: RunCli) -> None:
    code, _, err = run_cli("sweep", "-s", "NOPE=1,2")
    assert code == 2 and "no var named 'NOPE'" in err
    code, _, err = run_cli("sweep", "-s", "STEP=uniform(0,1)")
    assert code == 2 and "needs a number of points: --random N" in err
    code, _, err = run_cli("sweep")
    assert code == 2 and "nothing to sweep" in err
    code, _, err = run_cli("sweep", "status")
    assert code == 2 and "no sweep yet" in err
    assert json.loads("[]") == []


@pytest.mark.slow
def test_end_after_a_sweep_records_its_observations_on_every_run(
    sweepable: Path, run_cli: RunCli
) -> None:
    assert _expman(sweepable, "sweep", "-s", "STEP=1,2").returncode == 0
    code, out, _ = run_cli("end", "-m", "a larger step converges in fewer iterations")
    assert code == 0 and out == "ended sweep s0001: observations recorded on it and its 2 runs\n"
    observed = json.loads(run_cli("query", "[].sweep.observations")[1])
    assert observed == ["a larger step converges in fewer iterations"] * 2
    assert _expman(sweepable, "sweep", "-s", "STEP=3").returncode == 0
    code, out, _ = run_cli("end", "--sweep", "s0001", "-m", "revised")
    assert code == 0 and "sweep s0001" in out
    code, _, _ = run_cli("end", "-m", "x")  # s0002 has none yet: it is the one
    assert code == 0
    assert run_cli("end", "-m", "again")[0] == 2, "no open run, and every sweep ended"


def test_a_sweeps_observations_are_seen_from_each_of_its_runs(
    sweepable: Path, run_cli: RunCli, tmp_path: Path
) -> None:
    """`end --sweep` while a point runs and before another starts: every point's record
    carries the sweep's hypothesis and observations (its own observations are the
    sweep's), the README's `matches(observations, ...)` finds them, `show` says them."""
    gate = tmp_path / "gate"
    hypothesis = "a larger step needs fewer iterations"
    sweep = _background_sweep(sweepable, "-m", hypothesis, "-s", "STEP=1,3", "-s", f"GATE={gate}")
    _at_the_gate(tmp_path, 1)  # point 0 runs; point 1 has no run yet
    code, out, _ = run_cli("end", "--sweep", "s0001", "-m", "STEP=3 overshoots every GOAL")
    assert code == 0, out
    gate.touch()
    assert sweep.wait(timeout=120) == 0
    runs = records(sweepable)
    assert len(runs) == 2
    for run in runs:
        assert run["observations"] == "STEP=3 overshoots every GOAL"
        assert run["sweep"]["observations"] == "STEP=3 overshoots every GOAL"
        assert run["sweep"]["hypothesis"] == hypothesis
    readme = "[?matches(observations, '(?i)overshoot')].id"
    assert json.loads(run_cli("query", readme)[1]) == ["0001", "0002"]
    code, out, _ = run_cli("show", "2")
    assert code == 0
    shown = out[out.index("sweep s0001") :]
    assert shown.startswith("sweep s0001, point 1\n")
    assert f"  hypothesis:   {hypothesis}\n" in shown
    assert "  observations: STEP=3 overshoots every GOAL\n" in shown
    assert run_cli("end", "--sweep", "s0001", "-m", "revised")[0] == 0
    assert [r["observations"] for r in records(sweepable)] == ["revised"] * 2
    assert json.loads(run_cli("query", "[].sweep.observations")[1]) == ["revised"] * 2


@pytest.mark.slow
def test_a_sweep_named_in_the_expfile(experiment: Experiment) -> None:
    named = EXPFILE.replace(
        "stages:",
        "sweeps:\n  steps:\n    hypothesis: bigger steps\n    vars: {STEP: [1, 2], SEED: '5..6'}\n"
        "  draws:\n    vars: {STEP: 'int(1, 9)'}\n    random: 3\n    seed: 4\nstages:",
    )
    root = experiment(named, **{"compute.sh": COMPUTE, "version.txt": "one\n"})
    result = _expman(root, "sweep", "steps", "--jobs", "2")
    assert result.returncode == 0, result.stderr
    runs = records(root)
    assert sorted((r["vars"]["STEP"], r["vars"]["SEED"]) for r in runs) == [
        (1, 5),
        (1, 6),
        (2, 5),
        (2, 6),
    ]
    assert {r["hypothesis"] for r in runs} == {"bigger steps"}
    plan = _expman(root, "sweep", "draws", "--plan")
    again = _expman(root, "sweep", "draws", "--plan")
    assert plan.stdout == again.stdout and len(plan.stdout.splitlines()) == 4
    missing = _expman(root, "sweep", "nope")
    assert missing.returncode == 2 and "no sweep named 'nope'" in missing.stderr


PRERUN = """\
version: 1
name: shared
vars:
  STEP: 1
  SEED: 0
env:
  COUNTER: {counter}
stages:
  pre-run:
    - name: data
      cmd: echo "ran $SEED" >> "$COUNTER"; mkdir -p data; echo "seed $SEED" > data/prepared.txt
      export: [{exported}]
      deps: [version.txt]
      targets: [data/prepared.txt]
  run: {{cmd: "cp data/prepared.txt result.txt"}}
  fetch: {{cmd: "cp result.txt \\"$EXPMAN_OUTPUTS\\"/"}}
"""


@pytest.mark.slow
@pytest.mark.parametrize(("exported", "executions"), [("", 1), ("SEED", 2)])
def test_pre_run_steps_run_once_per_distinct_environment(
    experiment: Experiment, tmp_path: Path, exported: str, executions: int
) -> None:
    counter = tmp_path / "counter"
    text = PRERUN.format(counter=counter, exported=exported)
    root = experiment(text, **{"version.txt": "1\n"})
    (root / ".gitignore").write_text("/.expman/\n/outputs/\n/runs/\n/data/\n")
    result = _expman(root, "sweep", "-s", "STEP=1..3", "-s", "SEED=7,8", "--jobs", "2")
    assert result.returncode == 0, result.stderr
    assert len(counter.read_text().splitlines()) == executions
    runs = records(root)
    assert len(runs) == 6
    assert {s["status"] for r in runs for s in r["stages"] if s["name"] == "pre-run:data"} == {
        "skipped"
    }
    for run in runs:  # each point saw the targets made for its own environment
        seen = (root / "runs" / run["id"] / "outputs" / "result.txt").read_text()
        assert seen == (f"seed {run['vars']['SEED']}\n" if exported else "seed \n")
    again = _expman(root, "sweep", "-s", "STEP=4", "-s", "SEED=7")  # still up to date
    assert again.returncode == 0 and len(counter.read_text().splitlines()) == executions


LIVE = """\
version: 1
name: live
vars: {STEP: 1}
stages:
  run:
    cmd: |
      mkdir -p "$EXPMAN_OUTPUTS"
      echo "{\\"acc\\": 0.$STEP}" > "$EXPMAN_OUTPUTS/metrics.json"
      sleep 1.2
  fetch: {cmd: "true"}
metrics: outputs/metrics.json
"""


@pytest.mark.slow
def test_on_a_terminal_a_live_view_shows_counts_and_metrics(experiment: Experiment) -> None:
    """Read back from a real pseudo-terminal: the block with its counts and the latest
    metric of each running point, redrawn in place."""
    import os
    import pty
    import select

    root = experiment(LIVE)
    leader, follower = pty.openpty()
    sweep = subprocess.Popen(
        [str(BIN / "expman"), "sweep", "-s", "STEP=1..4", "--jobs", "2"],
        cwd=root,
        stdin=follower,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    screen = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        screen += chunk
    os.close(leader)
    assert sweep.wait(timeout=60) == 0
    text = screen.decode(errors="replace")
    assert "running, 2 queued" in text
    assert "acc=0.1" in text or "acc=0.2" in text, "the latest metric of a running point"
    assert "\x1b[" in text and "F\x1b[J" in text, "the block is redrawn in place"
    assert "4 succeeded" in text


def test_notes_and_tags_on_a_sweep(sweepable: Path, run_cli: RunCli) -> None:
    assert _expman(sweepable, "sweep", "-s", "STEP=1,2").returncode == 0
    code, out, _ = run_cli("note", "s0001", "-m", "seeds disagree at STEP=2")
    assert code == 0 and out == "sweep s0001: 1 note(s)\n"
    code, out, _ = run_cli("tag", "s0001", "1", "+reviewed")
    assert code == 0 and out == "sweep s0001: tags reviewed\nrun 0001: tags reviewed\n"
    data = json.loads((sweepable / "runs/sweeps/s0001/sweep.json").read_text())
    assert [n["text"] for n in data["notes"]] == ["seeds disagree at STEP=2"]
    assert data["tags"] == ["reviewed"]
    assert len(list((sweepable / "runs/sweeps/s0001/annotations").iterdir())) == 2


@pytest.mark.slow
def test_points_killed_with_their_sweep_are_recorded_interrupted_by_the_resume(
    sweepable: Path, tmp_path: Path
) -> None:
    """SIGKILL to the sweep and to its point processes at once: no point can record its
    run. The resume (which makes each point's workspace again) records those runs
    `interrupted` before it removes their workspaces; none stays `running`."""
    gate = tmp_path / "gate"
    sweep = _background_sweep(sweepable, "-s", "STEP=1..4", "-s", f"GATE={gate}", "--jobs", "2")
    _at_the_gate(tmp_path, 2)
    children = subprocess.run(
        ["pgrep", "-P", str(sweep.pid)], capture_output=True, text=True
    ).stdout.split()
    for pid in [sweep.pid, *map(int, children)]:
        os.kill(pid, signal.SIGKILL)
    sweep.wait(timeout=30)
    assert [r["status"] for r in records(sweepable)] == ["running", "running"]
    gate.touch()
    resumed = _expman(sweepable, "sweep", "--resume", "s0001", "--jobs", "2")
    assert resumed.returncode == 0, resumed.stderr
    statuses = sorted(r["status"] for r in records(sweepable))
    assert statuses == ["interrupted"] * 2 + ["succeeded"] * 4, statuses
    killed = [r for r in records(sweepable) if r["status"] == "interrupted"]
    assert all(r["ended"] is None or r["attempts"][-1]["status"] == "interrupted" for r in killed)


def test_a_point_lets_go_of_its_claim_only_once_its_workspace_is_gone(
    sweepable: Path, tmp_path: Path
) -> None:
    """Whoever takes a point's claim next (a resume) makes its workspace afresh: the last
    holder must be done removing it, or it would remove the new one under the new run."""
    gate = tmp_path / "gate"
    sweep = _background_sweep(sweepable, "-s", "STEP=1", "-s", f"GATE={gate}")
    _at_the_gate(tmp_path, 1)
    claim = sweepable / "runs" / "sweeps" / "s0001" / "claims" / "0"
    workspace = sweepable / ".expman" / "workspaces" / "s0001-0"
    assert claim.exists() and workspace.exists()
    gate.touch()
    while claim.exists():
        time.sleep(0.0005)
    assert not workspace.exists(), "the claim was free while its workspace was still there"
    assert sweep.wait(timeout=120) == 0


def test_status_shows_the_series_when_a_run_has_no_metrics_file(
    experiment: Experiment,
) -> None:
    root = experiment(
        "version: 1\nname: curves\nvars: {N: 1}\nstages:\n  run:\n    cmd: >-\n"
        '      for l in 0.5 0.123456 $N; do echo "{\\"loss\\": $l}" >> "$EXPMAN_METRICS"; done\n'
    )
    done = _expman(root, "sweep", "-s", "N=2,0.25")
    assert done.returncode == 0, done.stderr
    assert "0      N=2     succeeded  0001  loss last 2 min 0.1235 max 2\n" in done.stdout
    status = _expman(root, "sweep", "status")
    assert "1      N=0.25  succeeded  0002  loss last 0.25 min 0.1235 max 0.5\n" in status.stdout

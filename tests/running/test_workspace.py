"""Workspaces of sweep points: runs in flight never share a writable working file. A point's
workspace holds the sweep's code and expfile, the targets of its own pre-run steps and the
data the expfile declares (read-only, checked): nothing a by-hand run left behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import REPO, git, records

Experiment = Callable[..., Path]
BIN = Path(sys.executable).parent

# The 15-line experiment: a pre-run target, and a results folder the stages write.
FIFTEEN = """\
version: 1
name: fifteen
vars: {X: 1}
data: [data/raw.txt]
stages:
  pre-run:
    - name: prepare
      cmd: mkdir -p data && echo "prepared for $X from $(cat data/raw.txt)" > data/input.txt
      targets: [data/input.txt]
  run:
    cmd: |
      mkdir -p results && cp data/input.txt results/value.txt && sleep 0.3
      echo "{\\"x\\": $X, \\"input\\": \\"$(cat results/value.txt)\\"}" > results/metrics.json
  fetch: {cmd: "cp results/* \\"$EXPMAN_OUTPUTS\\"/"}
metrics: outputs/metrics.json
"""
IGNORED = "/.expman/\n/outputs/\n/runs/\n/data/\n/results/\n"


def _expman(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "expman"), *args], cwd=root, capture_output=True, text=True, timeout=600
    )


def _fifteen(experiment: Experiment) -> Path:
    root = experiment(FIFTEEN, **{".gitignore": IGNORED})
    (root / "data").mkdir()
    (root / "data" / "raw.txt").write_text("raw\n")
    return root


def _stats(root: Path, *names: str) -> dict[str, tuple[int, int, bytes]]:
    return {
        name: (
            (root / name).stat().st_mtime_ns,
            (root / name).stat().st_ino,
            (root / name).read_bytes(),
        )
        for name in names
    }


@pytest.mark.slow
def test_a_by_hand_run_then_a_sweep_gives_every_point_its_own_values(
    experiment: Experiment,
) -> None:
    root = _fifteen(experiment)
    by_hand = _expman(root, "run", "-s", "X=9")
    assert by_hand.returncode == 0, by_hand.stderr
    assert _expman(root, "end", "-m", "by hand").returncode == 0
    left = ("data/input.txt", "data/raw.txt", "results/value.txt", "results/metrics.json")
    before = _stats(root, *left)
    sweep = _expman(root, "sweep", "-s", "X=1..4", "--jobs", "2")
    assert sweep.returncode == 0, sweep.stderr
    points = [r for r in records(root) if r.get("sweep")]
    assert len(points) == 4 and {r["status"] for r in points} == {"succeeded"}
    for run in points:  # its own pre-run target, its own results: never the by-hand run's
        x = run["vars"]["X"]
        assert run["metrics"] == {"x": x, "input": f"prepared for {x} from raw"}, run["id"]
        seen = (root / "runs" / run["id"] / "outputs" / "value.txt").read_text()
        assert seen == f"prepared for {x} from raw\n"
    assert _stats(root, *left) == before, "the experiment's own files are untouched"


def test_a_workspace_holds_code_declared_data_and_its_own_targets_only(
    experiment: Experiment, tmp_path: Path
) -> None:
    root = _fifteen(experiment)
    expfile = (root / "expfile.yaml").read_text()
    listing = "find . -path ./.expman -prune -o -printf '%y %p\\n' | sort > results/seen.txt\n"
    expfile = expfile.replace("  fetch:", f"      {listing}  fetch:")
    declared = "data: [data/raw.txt, data/scratch, 'params/*.txt']"
    (root / "expfile.yaml").write_text(expfile.replace("data: [data/raw.txt]", declared))
    (root / "params").mkdir()
    (root / "params" / "lr.txt").write_text("tracked: part of the code version\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "declare data")
    (root / "notes.txt").write_text("untracked: part of the code version\n")
    (root / "data" / "big.bin").write_bytes(b"\0" * 100)  # ignored and not declared
    (tmp_path / "scratch").mkdir()
    (tmp_path / "scratch" / "corpus.txt").write_text("a dataset elsewhere\n")
    (root / "data" / "scratch").symlink_to(tmp_path / "scratch")  # linked in by hand
    (root / "results").mkdir()
    (root / "results" / "old.txt").write_text("a by-hand run's\n")
    sweep = _expman(root, "sweep", "-s", "X=1")
    assert sweep.returncode == 0, sweep.stderr
    (run,) = records(root)
    seen = (root / "runs" / run["id"] / "outputs" / "seen.txt").read_text().splitlines()
    assert {"l ./data/raw.txt", "l ./data/input.txt", "l ./data/scratch"} <= set(seen)
    assert {"f ./notes.txt", "f ./params/lr.txt"} <= set(seen), "code: the workspace's own"
    assert "f ./data/big.bin" not in seen, "ignored files that are not declared stay out"
    assert "f ./results/old.txt" not in seen, "a by-hand run's results never reach a point"
    assert run["code"]["branch"] == "main", "a point records the branch the sweep started from"
    assert run["code"]["commit"] == git(root, "rev-parse", "HEAD").strip()


@pytest.mark.slow
def test_a_point_that_changes_shared_data_fails_naming_the_file(experiment: Experiment) -> None:
    root = _fifteen(experiment)
    expfile = (root / "expfile.yaml").read_text()
    spoil = (
        '      if [ "$X" = 2 ]; then echo spoiled >> data/raw.txt; fi\n'
        '      if [ "$X" = 3 ]; then echo mine >> data/input.txt; fi\n'
    )
    (root / "expfile.yaml").write_text(expfile.replace("  fetch:", f"{spoil}  fetch:"))
    sweep = _expman(root, "sweep", "-s", "X=1..4")
    assert sweep.returncode == 1
    by_x = {r["vars"]["X"]: r for r in records(root)}
    assert [by_x[x]["status"] for x in (1, 2, 3, 4)] == [
        "succeeded",
        "failed",
        "failed",
        "succeeded",
    ]
    attempt = by_x[2]["attempts"][-1]
    assert attempt["data_changed"] == ["data/raw.txt"]
    assert "changed shared data: 'data/raw.txt'" in attempt["reason"]
    assert "point 1 (X=2): failed, run 0002: changed shared data: 'data/raw.txt'" in sweep.stderr
    assert by_x[3]["attempts"][-1]["data_changed"] == ["data/input.txt"], "a shared target"
    shown = _expman(root, "show", by_x[2]["id"])
    assert "changed shared data: 'data/raw.txt'" in shown.stdout


@pytest.mark.slow
def test_lr_study_tour_run_then_sweep_gives_every_point_its_own_values(tmp_path: Path) -> None:
    """The README's lr-study tour, in its order: one run by hand, then the named sweep."""
    tour = _readme_tour()
    root = tmp_path / "lr-study"
    shutil.copytree(REPO / "examples" / "lr-study", root)
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "lr-study"]):
        git(root, *command)
    for line in tour:
        args = line.split()[1:]
        if args[0] == "run":
            assert _expman(root, "run").returncode == 0
        elif args[0] == "end":
            assert _expman(root, "end", "-m", "by hand").returncode == 0
        elif args[0] == "sweep":
            assert args[:3] == ["sweep", "lr-grid", "--jobs"]
            sweep = _expman(root, "sweep", "lr-grid", "--jobs", "2")
            assert sweep.returncode == 1, sweep.stderr  # LR=500 overflows
    points = [r for r in records(root) if r.get("sweep")]
    assert len(points) == 12
    for run in points:
        lr, seed = run["vars"]["LR"], run["vars"]["SEED"]
        if lr == 500.0:
            assert run["status"] == "failed"
            continue
        assert run["status"] == "succeeded", run["id"]
        series, metrics = run["series"], run["metrics"]
        assert series["loss"]["count"] == 30
        assert metrics["loss"] == pytest.approx(series["loss"]["last"], abs=1e-6)
        assert metrics["acc"] == pytest.approx(series["test_accuracy"]["last"], abs=1e-4)
        assert metrics["loss"] == pytest.approx(_final_loss(root, lr, seed), abs=1e-6), run["id"]


def _readme_tour() -> list[str]:
    """The expman commands of the README's lr-study tour, in order."""
    readme = (REPO / "README.md").read_text()
    block = readme.split("The shipped `lr-study` example", 1)[1].split("```sh\n", 1)[1]
    lines = [line.split("#")[0].strip() for line in block.split("```", 1)[0].splitlines()]
    commands = [part.strip() for line in lines for part in line.split("&&")]
    tour = [c for c in commands if c.startswith("expman ")]
    assert [c.split()[1] for c in tour][:3] == ["run", "end", "sweep"], tour
    return tour


def _final_loss(root: Path, lr: float, seed: int) -> float:
    """train.py's last loss for these vars, run by hand on the example's own clean data."""
    here = root.parent / f"by-hand-{lr}-{seed}"
    shutil.copytree(root / "data", here / "data")
    env = {
        **os.environ,
        "LR": str(lr),
        "SEED": str(seed),
        "EPOCHS": "30",
        "TEST_FRACTION": "0.25",
        "FEATURES": '["x1", "x2"]',
    }
    subprocess.run(
        [sys.executable, str(root / "train.py")], cwd=here, env=env, check=True, capture_output=True
    )
    last = (here / "results" / "curve.csv").read_text().splitlines()[-1]
    return float(last.split(",")[1])


def _worktrees(root: Path) -> list[str]:
    listed = git(root, "worktree", "list", "--porcelain")
    return [
        line.removeprefix("worktree ") for line in listed.splitlines() if line[:9] == "worktree "
    ]


def test_removing_a_workspace_leaves_git_no_note_of_it(experiment: Experiment) -> None:
    """A workspace's worktree goes with git's note of it (without `git worktree remove`),
    and the same name can be made again at once."""
    from expman.expfile import loading
    from expman.running import workspace

    root = experiment(FIFTEEN.replace("data: [data/raw.txt]\n", ""))
    commit = git(root, "rev-parse", "HEAD").strip()
    config = loading.parse((root / "expfile.yaml").read_text(), "expfile.yaml")
    kept = workspace.create(root, "kept", commit, None, config, None)
    for _ in range(2):
        made = workspace.create(root, "gone", commit, None, config, None)
        assert str(made.folder) in _worktrees(root)
        workspace.remove(root, made.folder, made.inside)
        assert not made.folder.exists()
        assert _worktrees(root) == [str(root), str(kept.folder)]
        assert git(root, "worktree", "prune", "--dry-run", "-v") == ""  # nothing stale
    assert sorted(p.name for p in (root / ".git" / "worktrees").iterdir()) == ["kept"]


def test_a_workspace_naming_another_worktrees_note_leaves_that_note(
    experiment: Experiment,
) -> None:
    """A `.git` file in a workspace that names another worktree's note (a stage rewrote
    it) never removes that note: the two must name each other, else git is asked."""
    from expman.expfile import loading
    from expman.running import workspace

    root = experiment(FIFTEEN.replace("data: [data/raw.txt]\n", ""))
    commit = git(root, "rev-parse", "HEAD").strip()
    config = loading.parse((root / "expfile.yaml").read_text(), "expfile.yaml")
    kept = workspace.create(root, "kept", commit, None, config, None)
    made = workspace.create(root, "gone", commit, None, config, None)
    (made.folder / ".git").write_text((kept.folder / ".git").read_text())
    workspace.remove(root, made.folder, made.inside)
    assert not made.folder.exists()
    assert str(kept.folder) in _worktrees(root)
    assert subprocess.run(["git", "status"], cwd=kept.folder, capture_output=True).returncode == 0

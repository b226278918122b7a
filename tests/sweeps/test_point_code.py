"""A sweep's point records its sweep's code version without a `git status` of its own.

The point's workspace is made from the sweep's commit and patch, so that is the code it
runs. These tests hold the proof: a workspace made as a point makes it holds exactly the
code version git tells of the experiment (clean, edited, untracked files, declared data
shared by links or carried in the patch), and every attempt of every point records the
sweep's code version and patch, also after an attempt that wrote files in the workspace.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from expman.running import snapshot, workspace
from expman.running.outputs import OUTPUTS
from expman.running.state import STATE_DIR
from expman.store.archive import Archive
from expman.sweeps import point
from expman.sweeps.store import Sweeps
from tests.conftest import git, records

Experiment = Callable[..., Path]
BIN = Path(sys.executable).parent
EXPFILE = """\
version: 1
name: coded
vars: {STEP: 1}
data: [data/]
stages:
  run: {cmd: "cat data/input.txt > result.txt; bash compute.sh"}
  fetch: {cmd: "cp result.txt \\"$EXPMAN_OUTPUTS\\"/"}
"""
COMPUTE = 'if [ ! -e tried ]; then touch tried; echo "attempt 1" > scratch.txt; exit 3; fi\n'


def _clean(root: Path) -> None:
    (root / "data").mkdir(exist_ok=True)
    (root / ".gitignore").write_text("/.expman/\n/outputs/\n/runs/\n/data/\n")
    (root / "data" / "input.txt").write_text("shared\n")


def _edited(root: Path) -> None:
    _clean(root)
    (root / "compute.sh").write_text(COMPUTE + "echo edited >> result.txt\n")


def _untracked(root: Path) -> None:
    _clean(root)
    (root / "notes.py").write_text("VALUE = 1\n")


def _data_in_the_patch(root: Path) -> None:
    """Declared data that git does not ignore: the snapshot carries it as untracked."""
    (root / ".gitignore").write_text("/.expman/\n/outputs/\n/runs/\n")
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "input.txt").write_text("in the patch\n")


STATES = {
    "clean": _clean,
    "edited": _edited,
    "untracked": _untracked,
    "data in the patch": _data_in_the_patch,
}


def _sweep_code(root: Path) -> tuple[dict[str, Any], bytes]:
    folder = root / "runs" / "sweeps" / "s0001"
    sweep = json.loads((folder / "sweep.json").read_text())
    patch = folder / "code.patch"
    return sweep["code"], patch.read_bytes() if patch.exists() else b""


def _expman(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "expman"), *args], cwd=root, capture_output=True, text=True, timeout=300
    )


def _experiment(experiment: Experiment, state: str) -> Path:
    root = experiment(EXPFILE, **{"compute.sh": COMPUTE})
    (root / ".gitignore").write_text("/.expman/\n/outputs/\n/runs/\n/data/\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "ignore data")
    STATES[state](root)
    return root


@pytest.mark.slow
@pytest.mark.parametrize("state", list(STATES))
def test_a_points_workspace_holds_the_sweeps_code_version(
    experiment: Experiment, state: str
) -> None:
    """What a `git status` in the point's workspace would record, as the point makes it
    (its data shared), is the sweep's code version: the point need not ask git."""
    root = _experiment(experiment, state)
    created = _expman(root, "sweep", "-s", "STEP=1..1")  # makes the sweep (its point fails)
    assert (root / "runs" / "sweeps" / "s0001" / "sweep.json").exists(), created.stderr
    archive = Archive(root / "runs")
    sweeps = Sweeps(archive)
    made = point._make_workspace(
        root, sweeps.folder("s0001"), sweeps.read("s0001"), "proof-workspace"
    )
    try:
        seen = snapshot.code_version(made.inside, ["runs", OUTPUTS, STATE_DIR])
    finally:
        workspace.remove(root, made.folder)
    code, patch = _sweep_code(root)
    assert made.code is not None
    assert (seen.commit, seen.dirty, seen.patch, seen.omitted, seen.error) == (
        code["commit"],
        code["dirty"],
        patch,
        code["omitted"],
        code["error"],
    )
    assert made.code.record(code["patch"]) == code
    assert made.code.patch == patch


@pytest.mark.slow
@pytest.mark.parametrize("state", list(STATES))
def test_every_attempt_of_a_point_records_the_sweeps_code_version(
    experiment: Experiment, state: str
) -> None:
    """Also the second attempt, after the first left a file in the workspace (a
    `git status` there would take it for code)."""
    root = _experiment(experiment, state)
    result = _expman(root, "sweep", "-s", "STEP=1..2", "--retries", "1")
    assert result.returncode == 0, result.stderr
    code, patch = _sweep_code(root)
    runs = records(root)
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
    for run in runs:
        assert run["code"] == code
        assert len(run["attempts"]) == 2
        kept = root / "runs" / run["id"] / "code.patch"
        assert (kept.read_bytes() if kept.exists() else b"") == patch
        previous = root / "runs" / run["id"] / "attempts" / "1" / "code.patch"
        assert not previous.exists() or previous.read_bytes() == patch

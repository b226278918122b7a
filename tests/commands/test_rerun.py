"""`expman rerun RUN [--check]`: an archived run again, from its own snapshot, in a fresh
workspace, as a new run linked to the original."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import RunCli, git, records

Experiment = Callable[..., Path]

EXPFILE = """\
version: 1
name: again
vars:
  FACTOR: 2
data: [data/big.txt]
stages:
  run:
    script: compute.sh
  fetch: {cmd: "cp result.txt \\"$EXPMAN_OUTPUTS\\"/ && cp metrics.json \\"$EXPMAN_OUTPUTS\\"/"}
metrics: outputs/metrics.json
"""
COMPUTE = """\
#!/bin/bash
value=$(( $(cat base.txt) * FACTOR + $(cat data/big.txt) ))
echo "$value $(cat extra.txt 2>/dev/null)" > result.txt
echo "{\\"value\\": $value, \\"noise\\": ${NOISE:-0}}" > metrics.json
"""


def _experiment(experiment: Experiment) -> Path:
    root = experiment(EXPFILE, **{"compute.sh": COMPUTE, "base.txt": "10\n"})
    (root / ".gitignore").write_text("/.expman/\n/outputs/\n/runs/\n/data/\n")
    (root / "data").mkdir()
    (root / "data" / "big.txt").write_text("1000\n")  # data git ignores
    git(root, "add", "-A")
    git(root, "commit", "-qm", "ignore data")
    return root


def test_rerun_runs_the_snapshot_not_the_working_tree(
    experiment: Experiment, run_cli: RunCli
) -> None:
    root = _experiment(experiment)
    (root / "base.txt").write_text("20\n")  # uncommitted when the run ran
    (root / "extra.txt").write_text("untracked\n")
    assert run_cli("run", "-s", "FACTOR=3")[0] == 0
    assert run_cli("end", "-m", "original")[0] == 0
    assert (root / "runs/0001/outputs/result.txt").read_text() == "1060 untracked\n"
    (root / "base.txt").write_text("99\n")  # what changed since must not matter
    (root / "extra.txt").unlink()
    git(root, "add", "-A")
    git(root, "commit", "-qm", "moved on")
    code, out, err = run_cli("rerun", "1", "--check")
    assert code == 0, err
    assert "run 0002 reproduces run 0001: same outputs, same metrics" in out
    new, first = records(root)[1], records(root)[0]
    assert new["rerun_of"] == {"id": "0001", "uid": first["uid"]}
    assert new["code"]["commit"] == first["code"]["commit"]
    assert new["code"]["branch"] == first["code"]["branch"] == "main", "a worktree has none"
    patch = (root / "runs/0002/code.patch").read_text()
    assert "diff --git a/data/big.txt" not in patch, "data is no code"
    assert "leaves out" not in err
    assert new["vars"]["FACTOR"] == 3
    assert (root / "runs/0002/outputs/result.txt").read_text() == "1060 untracked\n"
    assert not list((root / ".expman" / "workspaces").iterdir()), "the workspace is gone"
    assert "workspaces" not in git(root, "worktree", "list")
    assert (root / "base.txt").read_text() == "99\n", "the experiment is untouched"


def test_check_says_what_differs(experiment: Experiment, run_cli: RunCli) -> None:
    root = _experiment(experiment)
    expfile = (root / "expfile.yaml").read_text().replace("stages:", "env:\n  NOISE: 1\nstages:")
    (root / "expfile.yaml").write_text(expfile)
    assert run_cli("run")[0] == 0 and run_cli("end", "-m", "x")[0] == 0
    assert json.loads(run_cli("query", "[0].metrics")[1]) == {"value": 1020, "noise": 1}
    (root / "data" / "big.txt").write_text("2000\n")  # the data changed since
    code, out, _ = run_cli("rerun", "1", "--check")
    assert code == 4
    assert "differs: output result.txt: content differs" in out
    assert "differs: metric value: 1020 -> 2020" in out
    assert "run 0002 does not reproduce run 0001" in out


def test_a_commit_that_is_gone_gets_a_clear_message(
    experiment: Experiment, run_cli: RunCli
) -> None:
    root = _experiment(experiment)
    assert run_cli("run")[0] == 0 and run_cli("end", "-m", "x")[0] == 0
    shutil.rmtree(root / ".git")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "a new history")
    code, _, err = run_cli("rerun", "1")
    assert code == 2
    assert "which is not in this repository any more" in err


def test_a_run_without_a_code_version_cannot_be_rerun(
    tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "plain"  # not a git repository
    root.mkdir()
    (root / "expfile.yaml").write_text(
        "version: 1\nname: p\nstages:\n  run: {cmd: 'true'}\n  fetch: {cmd: 'true'}\n"
    )
    monkeypatch.chdir(root)
    assert run_cli("run")[0] == 0 and run_cli("end", "-m", "x")[0] == 0
    code, _, err = run_cli("rerun", "1")
    assert code == 2 and "cannot be run again from its code: not a git repository" in err


PREPARED = """\
version: 1
name: prepared
vars: {FACTOR: 2}
data: [data/raw.txt]
stages:
  pre-run:
    - name: prepare
      cmd: mkdir -p data && echo "$(cat data/raw.txt) prepared" > data/input.txt
      targets: [data/input.txt]
  run:
    cmd: |
      mkdir -p results && echo "$FACTOR x $(cat data/input.txt)" > results/value.txt
      if [ -e spoil ]; then echo spoiled >> data/raw.txt; fi
  fetch: {cmd: "cp results/* \\"$EXPMAN_OUTPUTS\\"/"}
"""


def _prepared(experiment: Experiment) -> Path:
    root = experiment(
        PREPARED, **{".gitignore": "/.expman/\n/outputs/\n/runs/\n/data/\n/results/\n"}
    )
    (root / "data").mkdir()
    (root / "data" / "raw.txt").write_text("raw\n")
    return root


def test_rerun_sees_declared_data_and_makes_its_own_targets(
    experiment: Experiment, run_cli: RunCli
) -> None:
    root = _prepared(experiment)
    assert run_cli("run", "-s", "FACTOR=3")[0] == 0 and run_cli("end", "-m", "x")[0] == 0
    (root / "data" / "input.txt").write_text("edited by hand\n")  # not what run 1 prepared
    (root / "results" / "value.txt").write_text("left by hand\n")
    left = {p: (root / p).stat() for p in ("data/input.txt", "results/value.txt")}
    code, _, err = run_cli("rerun", "1", "--check")
    assert code == 0, err
    assert (root / "runs/0002/outputs/value.txt").read_text() == "3 x raw prepared\n"
    for name, before in left.items():  # the experiment's own files: never written
        after = (root / name).stat()
        assert (after.st_mtime_ns, after.st_ino) == (before.st_mtime_ns, before.st_ino), name
    assert (root / "data" / "input.txt").read_text() == "edited by hand\n"


def test_a_rerun_that_changes_shared_data_fails_naming_the_file(
    experiment: Experiment, run_cli: RunCli
) -> None:
    root = _prepared(experiment)
    assert run_cli("run")[0] == 0 and run_cli("end", "-m", "x")[0] == 0
    (root / "spoil").write_text("")
    git(root, "add", "spoil")
    git(root, "commit", "-qm", "spoil")
    assert run_cli("run")[0] == 0 and run_cli("end", "-m", "spoils")[0] == 0
    (root / "data" / "raw.txt").write_text("raw\n")
    code, _, err = run_cli("rerun", "2")
    assert code == 1
    assert "changed shared data: 'data/raw.txt'" in err
    new = records(root)[-1]
    assert new["status"] == "failed" and new["attempts"][-1]["data_changed"] == ["data/raw.txt"]


def _replace(path: Path, text: str) -> None:
    path.unlink()  # a copy's file (`cp -r`), not the store's object
    path.write_text(text)


def test_a_snapshot_that_no_longer_matches_its_record_is_not_run(
    experiment: Experiment, run_cli: RunCli
) -> None:
    root = _experiment(experiment)
    (root / "extra.txt").write_text("untracked\n")  # a code.patch
    assert run_cli("run")[0] == 0 and run_cli("end", "-m", "original")[0] == 0
    (root / "extra.txt").unlink()
    run = root / "runs" / "0001"
    for name in ("scripts/compute.sh", "expfile.yaml"):  # what it computes is the same
        _replace(run / name, (run / name).read_text() + "# changed since\n")
    code, out, err = run_cli("rerun", "1", "--check")
    assert code == 2, out
    assert "reproduces" not in out
    for name in ("scripts/compute.sh", "expfile.yaml"):
        assert f"{name}: it does not match its record" in err
    _replace(run / "code.patch", (run / "code.patch").read_text().replace("untracked", "changed!!"))
    code, _, err = run_cli("rerun", "1")
    assert code == 2 and "code.patch: it does not match its record" in err
    assert len(records(root)) == 1, "nothing ran"


def test_an_interrupted_rerun_ends_its_run(
    experiment: Experiment, run_cli: RunCli, tmp_path: Path
) -> None:
    """SIGTERM while the rerun's stage runs: the new run is ended, recorded interrupted,
    as a sweep's point ends its run, not left open in a workspace that is removed."""
    root = experiment(
        "version: 1\nname: held\nstages:\n"
        '  run: {cmd: \'if [ -n "$HOLD" ]; then touch "$HOLD"; sleep 60; fi\'}\n'
        "  fetch: {cmd: 'true'}\n"
    )
    assert run_cli("run")[0] == 0
    assert run_cli("end", "-m", "original")[0] == 0
    held = tmp_path / "held"
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "expman"), "rerun", "1"],
        cwd=root,
        env={**os.environ, "HOLD": str(held)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not held.exists():
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, "the rerun's stage never started"
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output
    new = records(root)[1]
    assert new["rerun_of"]["id"] == "0001"
    assert new["status"] == "interrupted"
    assert new["ended"] is not None, "the interrupted rerun's run is ended"
    assert not list((root / "runs" / ".open").iterdir()), "no run is left open"
    assert not list((root / ".expman" / "workspaces").iterdir()), "the workspace is gone"

"""`expman show` and `expman logs` of failed runs, runs without commits, and `expman doit`'s
refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import RunCli, git

Experiment = Callable[..., Path]

FAILING = """\
version: 1
name: failing
stages:
  run: {cmd: "echo computing; echo 'CUDA out of memory' >&2; exit 4"}
  fetch: {cmd: "true"}
"""


def test_show_of_a_failed_run_says_why_and_where_its_logs_are(
    experiment: Experiment, run_cli: RunCli
) -> None:
    experiment(FAILING)
    assert run_cli("run")[0] == 1
    code, out, _ = run_cli("show", "last")
    assert code == 0
    assert "failed: run\n" in out
    assert "  log: runs/0001/logs/run.err\n    | CUDA out of memory\n" in out
    assert "(all of it: expman logs 0001)" in out


def test_logs_prints_each_steps_output_under_its_name(
    experiment: Experiment, run_cli: RunCli
) -> None:
    experiment(FAILING)
    run_cli("run")
    code, out, _ = run_cli("logs", "last")
    assert code == 0
    assert "── run (stdout: " in out and "computing\n" in out
    assert "── run (stderr: " in out and "CUDA out of memory\n" in out
    assert "── fetch" not in out, "steps that wrote nothing are left out"
    code, out, _ = run_cli("logs", "1", "run")
    assert code == 0 and "CUDA out of memory" in out
    code, _, err = run_cli("logs", "1", "train")
    assert code == 2 and "run 0001 has no step 'train' (steps: run, fetch)" in err


def test_show_of_a_repository_without_commits(tmp_path: Path, run_cli: RunCli, monkeypatch) -> None:
    root = tmp_path / "fresh"
    root.mkdir()
    monkeypatch.chdir(root)
    git(root, "init", "-q")
    (root / "expfile.yaml").write_text(FAILING.replace("exit 4", "true"))
    assert run_cli("run")[0] == 0
    code, out, _ = run_cli("show", "last")
    assert code == 0
    assert "  code:         no commit yet (branch main), dirty: code.patch\n" in out


def test_doit_with_an_unknown_task_is_bad_input_and_names_the_right_command(
    experiment: Experiment, run_cli: RunCli
) -> None:
    experiment(FAILING)
    code, _, err = run_cli("doit", "nosuch")
    assert code == 2
    assert 'Invalid parameter: "nosuch"' in err
    assert 'Type "expman doit list" to see available tasks.' in err
    assert "Traceback" not in err


def test_doits_own_crash_stays_a_crash_never_bad_input(
    experiment: Experiment, run_cli: RunCli
) -> None:
    """doit answers 3 both for a command line it refuses and for its own crash: the
    refusal is bad input (2), the crash keeps 3 and its traceback."""
    experiment(FAILING)
    code, _, err = run_cli("doit", "list", "--status", "--db-file", "/dev/null")
    assert code == 3
    assert "Traceback (most recent call last)" in err


def test_show_and_logs_read_no_log_a_record_names_outside_its_folder(
    experiment: Experiment, run_cli: RunCli
) -> None:
    """A record is untrusted: a log it names by an absolute path, out of the run folder,
    through a link, or that is a pipe is not read (nor waited on); the others are."""
    root = experiment(FAILING)
    assert run_cli("run")[0] == 1
    secret = root.parent / "secret.err"
    secret.write_text("SECRET\n")
    folder = root / "runs" / "0001"
    (folder / "logs" / "link.err").symlink_to(secret)
    os.mkfifo(folder / "logs" / "pipe.err")
    path = folder / "run.json"
    record = json.loads(path.read_text())
    record["stages"][0]["logs"] += [str(secret), "../../../secret.err", "logs/link.err"]
    record["stages"][0]["logs"] += ["logs/pipe.err"]
    path.write_text(json.dumps(record))
    code, out, _ = run_cli("logs", "1")
    assert code == 0 and "CUDA out of memory" in out and "SECRET" not in out
    code, out, _ = run_cli("show", "1")
    assert code == 0 and "CUDA out of memory" in out and "SECRET" not in out


def test_show_gives_the_series_summaries(experiment: Experiment, run_cli: RunCli) -> None:
    experiment(
        "version: 1\nname: curves\nstages:\n  run:\n    cmd: >-\n"
        '      for l in 0.5 0.123456 0.25; do echo "{\\"loss\\": $l}" >> "$EXPMAN_METRICS"; done\n'
    )
    assert run_cli("run")[0] == 0
    code, out, _ = run_cli("show", "last")
    assert code == 0
    assert "\nseries\n  loss  last 0.25  min 0.1235  max 0.5  3 points\n" in out


@pytest.mark.slow
def test_show_says_why_an_attempt_stopped(experiment: Experiment, run_cli: RunCli) -> None:
    root = experiment("version: 1\nname: dies\nstages:\n  run: {cmd: 'sleep 60'}\n")
    runner = subprocess.Popen(
        [sys.executable, "-m", "expman", "run"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    run_json = root / "runs" / "0001" / "run.json"
    deadline = time.monotonic() + 60
    while not (run_json.exists() and '"pid"' in run_json.read_text()):
        assert time.monotonic() < deadline, "the stage never started"
        time.sleep(0.05)
    runner.kill()  # the runner dies; its stage is stopped by the repair
    runner.wait()
    code, out, _ = run_cli("show", "last")
    assert code == 0
    assert "\n  stopped:      interrupted: its runner died" in out

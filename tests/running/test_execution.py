"""Stages as real processes: live output, Ctrl-C and SIGTERM, the lock, and doit's shim."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import RunCli, git, records, steps

BIN = Path(sys.executable).parent
Experiment = Callable[..., Path]

WAITING = """\
version: 1
name: waiting
stages:
  run:
    cmd: echo first; while [ ! -e go ]; do sleep 0.05; done; echo second
  fetch: {cmd: "true"}
"""

BLOCKED = """\
version: 1
name: blocked
stages:
  run:
    cmd: sleep 300 & echo $! > child.pid; echo started; wait
  fetch: {cmd: "echo fetched > fetched.txt"}
"""


def _expman(root: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BIN / "expman"), *args],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text().strip():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead too
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


def test_output_reaches_the_terminal_while_the_stage_runs(experiment: Experiment) -> None:
    root = experiment(WAITING)
    process = _expman(root, "run")
    assert process.stdout is not None
    seen = ""
    while "first" not in seen:  # if expman buffered the stage, this would wait forever
        line = process.stdout.readline()
        assert line, f"expman ended before the stage printed: {seen}"
        seen += line
    (root / "go").touch()
    rest, _ = process.communicate(timeout=60)
    assert process.returncode == 0, seen + rest
    assert "second" in rest
    assert (root / "runs/0001/logs/run.out").read_text() == "first\nsecond\n"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupt_stops_the_stage_group_and_records_it(experiment: Experiment, sig: int) -> None:
    root = experiment(BLOCKED)
    process = _expman(root, "run")
    _wait_for(root / "child.pid")
    child = int((root / "child.pid").read_text())
    assert _alive(child)
    process.send_signal(sig)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output
    assert "expman: interrupted" in output
    assert not _alive(child), "the stage's background child survived"
    (record,) = records(root)
    assert record["status"] == "interrupted"
    assert steps(record) == {"run": "interrupted"}
    assert record["attempts"][0]["status"] == "interrupted"


def test_the_step_process_dies_with_a_killed_runner(experiment: Experiment) -> None:
    """SIGKILL leaves expman no chance to stop anything: the step's own process must still
    go at once (the parent-death signal), not wait for the next command's repair."""
    root = experiment(
        "version: 1\nname: orphan\nstages:\n"
        "  run: {cmd: 'echo $$ > step.pid; while true; do sleep 0.05; done'}\n"
        "  fetch: {cmd: 'true'}\n"
    )
    process = _expman(root, "run")
    _wait_for(root / "step.pid")
    step = int((root / "step.pid").read_text())
    assert _alive(step)
    process.kill()
    process.communicate(timeout=30)
    deadline = time.monotonic() + 10
    while _alive(step):
        assert time.monotonic() < deadline, "the step outlived its SIGKILLed runner"
        time.sleep(0.05)


def test_a_script_whose_interpreter_is_missing_fails_with_the_reason(
    experiment: Experiment, run_cli: RunCli
) -> None:
    root = experiment(
        "version: 1\nname: shebang\nstages:\n  run: {script: go.sh}\n  fetch: {cmd: 'true'}\n",
        **{"go.sh": "#!/no/such/interpreter\necho never\n"},
    )
    code, _, err = run_cli("run")
    assert code == 1, err
    assert "cannot start /no/such/interpreter: No such file or directory" in err
    (record,) = records(root)
    (stage,) = [s for s in record["stages"] if s["name"] == "run"]
    assert stage["status"] == "failed"
    assert "cannot start /no/such/interpreter" in stage["error"]


def test_a_second_run_is_refused_while_the_first_holds_the_lock(experiment: Experiment) -> None:
    root = experiment(BLOCKED)
    first = _expman(root, "run")
    _wait_for(root / "child.pid")
    second = subprocess.run(
        [str(BIN / "expman"), "run"], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert second.returncode == 2
    assert second.stderr.startswith(
        f"expman: this experiment is busy: `expman run` (pid {first.pid} on "
    )
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=60)
    assert len(records(root)) == 1
    third = subprocess.run(
        [str(BIN / "expman"), "end", "-m", "x"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert third.returncode == 0, third.stderr  # the dead holder's lock is free again


@pytest.mark.slow
def test_doit_in_the_experiment_runs_and_records_the_same_way(
    tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "viadoit"
    run_cli("init", str(root))
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "init")
    listed = subprocess.run([str(BIN / "doit"), "list"], cwd=root, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()] == [
        "post-run",
        "pre-run",
        "run",
    ]
    ran = subprocess.run([str(BIN / "doit")], cwd=root, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    monkeypatch.chdir(root)
    assert run_cli("run")[0] == 0  # the same run, a second attempt: state is shared
    (record,) = records(root)
    assert steps(record) == {
        "pre-run:prepare": "skipped",
        "run": "ran",
        "post-run": "ran",
    }
    assert [steps({"stages": a["stages"]})["pre-run:prepare"] for a in record["attempts"]] == [
        "ran",
        "skipped",
    ]
    failing = subprocess.run(
        [str(BIN / "doit")],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "GOAL": "x"},
    )
    assert failing.returncode == 0  # GOAL comes from the expfile, not the caller


def test_doit_shim_with_an_invalid_expfile(tmp_path: Path, run_cli: RunCli) -> None:
    root = tmp_path / "broken"
    run_cli("init", str(root))
    (root / "expfile.yaml").write_text("version: 1\nname: x\nstages: {fetch: {cmd: a}}\n")
    result = subprocess.run([str(BIN / "doit"), "list"], cwd=root, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr == "expfile.yaml:3:1: $.stages: 'run' is a required property\n"


@pytest.mark.slow
def test_journey_of_seven_runs(tmp_path: Path) -> None:
    """From `expman init` through runs with overrides, a failure and a Ctrl-C."""
    root = tmp_path / "journey"
    expman = str(BIN / "expman")

    def call(*args: str, ok: int = 0) -> str:
        result = subprocess.run(
            [expman, *args], cwd=root, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == ok, result.stdout + result.stderr
        return result.stdout

    subprocess.run([expman, "init", str(root)], check=True, capture_output=True)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "init")
    for step in (1, 2, 3, 5, 8):
        call("run", "-s", f"STEP={step}")
        call("end", "-m", f"STEP={step}")
    text = (root / "expfile.yaml").read_text()
    (root / "expfile.yaml").write_text(text.replace("script: run.sh", "cmd: exit 4"))
    call("run", ok=1)
    call("end", "-m", "failed on purpose")
    (root / "expfile.yaml").write_text(
        text.replace("script: run.sh", 'cmd: "sleep 60 & echo $! > child.pid; wait"')
    )
    process = _expman(root, "run")
    _wait_for(root / "child.pid")
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=60)
    assert process.returncode == 130
    call("end", "-m", "stopped by hand")

    found = records(root)
    assert [r["status"] for r in found] == ["succeeded"] * 5 + ["failed", "interrupted"]
    assert [r["metrics"]["step"] for r in found[:5]] == [1, 2, 3, 5, 8]
    assert [r["metrics"]["iterations"] for r in found[:5]] == [20, 10, 7, 4, 3]
    for record in found:
        run_dir = root / "runs" / record["id"]
        assert record["ended"] and record["uid"]
        for name in (
            "run.json",
            "expfile.yaml",
            "packages.json",
            "scripts/prepare.sh",
            "logs/run.out",
            "logs/run.err",
        ):
            assert (run_dir / name).exists(), (record["id"], name)
        assert (run_dir / "scripts/run.sh").exists() == (record in found[:5])
        assert json.loads((run_dir / "run.json").read_text()) == record
    assert {o["path"] for o in found[0]["outputs"]} == {"metrics.json"}
    assert found[5]["code"]["dirty"] and (root / "runs/0006/code.patch").exists()
    assert len({r["uid"] for r in found}) == 7
    assert "no open run (last: 0007)" in call("status")


def test_a_setpriv_without_pdeathsig_is_not_used(
    experiment: Experiment, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Older util-linux (common on clusters) has a `setpriv` without `--pdeathsig`: the
    steps must still run, with the death signal set as before."""
    from expman.running import execute

    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "setpriv").write_text(
        "#!/bin/sh\necho \"setpriv: unrecognized option '$1'\" >&2\nexit 1\n"
    )
    (fake / "setpriv").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    execute.death_signal_setter.cache_clear()
    try:
        root = experiment(
            BLOCKED.replace("sleep 300 & echo $! > child.pid; echo started; wait", "echo ran")
        )
        code, _, err = run_cli("run")
        assert code == 0, err
        assert execute.death_signal_setter() is None
        assert steps(records(root)[0]) == {"run": "ran", "fetch": "ran"}
    finally:
        monkeypatch.undo()
        execute.death_signal_setter.cache_clear()

"""Runs in flight: the heartbeat, `expman watch` (pipe, --once, a real terminal), `logs -f`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from expman.observe import heartbeat, series
from expman.observe.inflight import in_flight
from expman.store.archive import Archive
from tests.conftest import missing, records

BIN = Path(sys.executable).parent
Experiment = Callable[..., Path]

SLOW = """\
version: 1
name: flight
vars: {N: 40, PAUSE: 0.1}
stages:
  run:
    cmd: PYTHON train.py
  fetch: {cmd: "true"}
"""

TRAIN = """\
import os, sys, time
import expman

for i in range(int(os.environ["N"])):
    expman.log(step=i, loss=10.0 - i, acc=i / 100)
    print("line", i, flush=True)
    if i == 5:
        print("to stderr", file=sys.stderr, flush=True)
    time.sleep(float(os.environ["PAUSE"]))
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COV_CORE")}
    return {**env, "EXPMAN_HEARTBEAT": "0.2", "NO_COLOR": "1", **extra}


@pytest.fixture
def flight(experiment: Experiment) -> Path:
    return experiment(SLOW.replace("PYTHON", sys.executable), **{"train.py": TRAIN})


def _expman(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """An expman command run to its end, as a user would run it; its output as text."""
    return subprocess.run(
        [str(BIN / "expman"), *args],
        cwd=root,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _start(root: Path, *args: str, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(BIN / "expman"), "run", *args],
        cwd=root,
        env=_env(**env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _wait_for(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def running(flight: Path) -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    """A run in flight (its first heartbeat and metrics written); stopped after the test."""
    runner = _start(flight, "-s", "PAUSE=0.04", "-s", "N=100")
    folder = flight / "runs" / "0001"
    _wait_for(lambda: (folder / "heartbeat.json").is_file() and series.stream(folder).exists())
    yield flight, runner
    if runner.poll() is None:
        os.killpg(runner.pid, signal.SIGTERM)
    runner.wait(timeout=30)


@pytest.mark.slow
def test_a_running_run_beats_and_its_heartbeat_goes_when_the_attempt_closes(
    flight: Path,
) -> None:
    runner = _start(flight, "-s", "N=15")
    folder = flight / "runs" / "0001"
    beats = []
    while runner.poll() is None:
        beat = heartbeat.read(folder)
        if beat is not None:
            beats.append(beat["sequence"])
        time.sleep(0.05)
    assert runner.returncode == 0
    assert len(set(beats)) >= 3, "the heartbeat is rewritten while the run runs"
    assert beats == sorted(beats)
    assert not (folder / heartbeat.FILE).exists()
    assert records(flight)[0]["series"]["loss"]["count"] == 15


@pytest.mark.slow
def test_a_killed_runner_goes_stale_and_repair_keeps_its_series(
    running: tuple[Path, subprocess.Popen[bytes]],
) -> None:
    root, runner = running
    folder = root / "runs" / "0001"
    _wait_for(lambda: len(series.stream(folder).read_text().splitlines()) >= 5)
    os.killpg(runner.pid, signal.SIGKILL)
    runner.wait()
    archive = Archive(root / "runs")
    (flying,) = in_flight(archive)
    assert flying.state == "running"
    # Stale by the file's content: its `at_epoch`, read by the reader's clock (the mtime is
    # made fresh on purpose: it must not count).
    later = flying.beat["at_epoch"] + heartbeat.STALE_AFTER * 0.2 + 1  # type: ignore[index]
    os.utime(folder / heartbeat.FILE, (later + 100, later + 100))
    (flying,) = in_flight(archive, now=later)
    assert flying.state == "stale"
    # Read from the archive alone (as on a copy of it elsewhere): stale, not repaired.
    time.sleep(heartbeat.STALE_AFTER * 0.2 + 0.5)
    done = _expman(root, "watch", "--once", "--archive", "runs")
    assert "stale" in done.stdout and "no heartbeat for" in done.stdout, done.stdout
    # The next command that may repair does: interrupted, and what was logged is kept.
    assert _expman(root, "status").returncode == 0
    run = records(root)[0]
    assert run["status"] == "interrupted"
    assert run["series"]["loss"]["count"] >= 5
    assert not (folder / heartbeat.FILE).exists()
    assert in_flight(archive) == []


@pytest.mark.slow
def test_watch_in_a_pipe_prints_changes_and_ends_with_the_run(
    running: tuple[Path, subprocess.Popen[bytes]],
) -> None:
    root, runner = running
    done = _expman(root, "watch", "--every", "0.2")
    assert runner.wait(timeout=60) == 0
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "\x1b[" not in done.stdout, "plain lines in a pipe"
    flying = [line for line in lines if " 0001  running   run  " in line]
    assert len(flying) >= 3, done.stdout
    assert "loss=" in flying[-1] and "acc=" in flying[-1]
    assert lines[-1] == "0001 succeeded"


def test_watch_once_and_watch_of_nothing(flight: Path) -> None:
    once = _expman(flight, "watch", "--once")
    assert once.returncode == 0 and once.stdout.startswith("0 runs in flight")
    done = _expman(flight, "watch", "--every", "0.05")
    assert done.returncode == 0 and done.stdout == "no runs in flight\n"
    for every in ("0", "nan", "-1", "1e9"):
        done = _expman(flight, "watch", "--every", every)
        assert done.returncode == 2 and "--every" in done.stderr


@pytest.mark.slow
def test_watch_on_a_real_terminal_redraws_the_runs_in_place(flight: Path) -> None:
    """In tmux: the screen read back shows the run's line with its metrics and trend."""
    if shutil.which("tmux") is None:
        missing("tmux is not installed (apt-get install tmux): `expman watch` on a terminal")
    runner = _start(flight, "-s", "PAUSE=0.05", "-s", "N=120")
    # watch ends when nothing is in flight for two refreshes: under load the run may not
    # be open that soon (CI once saw "0 runs in flight" and a watch that had ended).
    _wait_for(lambda: (flight / "runs" / "0001" / "heartbeat.json").is_file())
    session = f"expman-watch-{os.getpid()}"
    env = " ".join(f"{k}={v}" for k, v in {"EXPMAN_HEARTBEAT": "0.2", "TERM": "xterm"}.items())
    command = f"cd {flight} && env {env} {BIN / 'expman'} watch --every 0.2; sleep 30"
    server = ["tmux", "-L", session]
    subprocess.run([*server, "new-session", "-d", "-x", "150", "-y", "20", command], check=True)
    try:
        screens = []
        deadline = time.monotonic() + 30
        while runner.poll() is None and time.monotonic() < deadline:
            shown = subprocess.run(
                [*server, "capture-pane", "-p"], capture_output=True, text=True
            ).stdout
            screens.append(shown)
            time.sleep(0.3)
        assert runner.wait(timeout=60) == 0
        time.sleep(1)
        final = subprocess.run([*server, "capture-pane", "-p"], capture_output=True, text=True)
    finally:
        subprocess.run([*server, "kill-server"], check=False)
    live = [s for s in screens if "0001  running" in s]
    assert live, screens[-3:]
    screen = live[-1]
    assert "1 run in flight" in screen
    row = next(line for line in screen.splitlines() if "0001  running" in line)
    assert "loss=" in row and any(bar in row for bar in "▁▂▃▄▅▆▇█"), row
    # Redrawn in place: one header on the screen, never a scrolling list of them.
    assert all(s.count("in flight (") <= 1 for s in live)
    assert "0001 succeeded" in final.stdout
    assert "0 runs in flight" in final.stdout


@pytest.mark.slow
def test_logs_follow_prints_what_is_appended_until_the_run_ends(
    running: tuple[Path, subprocess.Popen[bytes]],
) -> None:
    root, runner = running
    done = _expman(root, "logs", "last", "-f")
    assert runner.wait(timeout=60) == 0
    assert done.returncode == 0, done.stderr
    out = done.stdout
    numbers = [int(line.split()[1]) for line in out.splitlines() if line.startswith("line ")]
    assert numbers == list(range(100)), "every line once, in order"
    assert "to stderr" in out and "run (stderr:" in out
    assert out.count("── run (stdout:") >= 2, "a header again after the stderr lines"


def test_logs_follow_of_an_unknown_step_is_refused(flight: Path) -> None:
    runner = _start(flight, "-s", "N=3")
    assert runner.wait(timeout=60) == 0
    done = _expman(flight, "logs", "last", "nope", "-f")
    assert done.returncode == 2 and "has no step 'nope'" in done.stderr
    done = _expman(flight, "logs", "last", "run", "-f")
    assert done.returncode == 0 and done.stdout.count("line ") == 3
    assert json.loads((flight / "runs" / "0001" / "run.json").read_text())["status"] == (
        "succeeded"
    )

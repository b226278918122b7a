"""Text from records shown to a person: every control character escaped, on every route.

A freshly made hostile archive: its hypotheses, observations, notes, tags, var values,
metric names and series names hold terminal control sequences (clear the screen, set the
title, an OSC 8 link, CSI as one C1 character, a right-to-left override). Each command
that shows them to a person must show them escaped (`\\x1b`, `\\u009b`), on a terminal and
in a pipe; `logs` alone gives the bytes the stage wrote, as `cat` would.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import git

BIN = Path(sys.executable).parent

# Clear the screen, set the window title, an OSC 8 link, CSI as one C1 character, and a
# right-to-left override: each would act on a terminal instead of being shown.
HOSTILE = "\x1b[2J\x1b]0;TITLE\x07\x1b]8;;http://x.invalid\x1b\\link\x1b]8;;\x1b\\\u009b2J\u202eRLO"
SHOWN = r"\x1b[2J\x1b]0;TITLE\x07"  # how it starts, escaped (a line may be cut after it)
# What a terminal would act on, tab and newline aside.
CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# On a terminal, expman's own: colours, the live block's redraw, and the terminal's \r\n.
OWN_CODES = re.compile(r"\x1b\[(?:[0-9]+m|[0-9]+F|J)|\r(?=\n)")

EXPFILE = """\
version: 1
name: hostile
hypothesis: HOSTILE_JSON
vars: {TEXT: HOSTILE_JSON, HOLD: ""}
stages:
  run:
    cmd: PYTHON stage.py
  fetch: {cmd: "cp metrics.json \\"$EXPMAN_OUTPUTS\\"/"}
metrics: outputs/metrics.json
"""

STAGE = """\
import json, os, pathlib, sys, time

text = os.environ["TEXT"]
with open(os.environ["EXPMAN_METRICS"], "a") as f:
    f.write(json.dumps({"step": 0, "loss" + text: 1.0}) + "\\n")
    f.write(json.dumps({"step": 1, "loss" + text: 0.5}) + "\\n")
pathlib.Path("metrics.json").write_text(json.dumps({"acc" + text: 0.5}))
sys.stdout.write("raw " + text + "\\n")
while os.environ["HOLD"] and not pathlib.Path("go").exists():
    time.sleep(0.05)
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COV_CORE")}
    return {**env, "EXPMAN_HEARTBEAT": "0.2", "TERM": "xterm"}


def expman(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """An expman command in a pipe, to its end."""
    return subprocess.run(
        [str(BIN / "expman"), *args],
        cwd=root,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def on_terminal(root: Path, *args: str) -> str:
    """What an expman command writes on a terminal (a pseudo-terminal), standard output
    and error together."""
    main, secondary = pty.openpty()
    process = subprocess.Popen(
        [str(BIN / "expman"), *args],
        cwd=root,
        env=_env(),
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        start_new_session=True,
    )
    os.close(secondary)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([main], [], [], 60)
            assert ready, "no output for a minute"
            try:
                chunk = os.read(main, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(main)
        process.wait(timeout=60)
    return b"".join(chunks).decode("utf-8")


def assert_no_controls(text: str, terminal: bool = False) -> None:
    """No control character reaches the person (on a terminal, expman's own aside)."""
    found = CONTROLS.search(OWN_CODES.sub("", text) if terminal else text)
    assert found is None, f"{found.group()!r} shown raw in:\n{text}"


def assert_shown_escaped(text: str, terminal: bool = False) -> None:
    """No control character reaches the person, and the hostile text is there, escaped."""
    assert_no_controls(text, terminal)
    assert SHOWN in text, text


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Run 0001 ended (observations, a note and a tag added after), run 0002 in flight
    (its stage waits for a file named `go`), every text of both hostile."""
    root = tmp_path_factory.mktemp("hostile") / "exp"
    root.mkdir()
    text = EXPFILE.replace("HOSTILE_JSON", json.dumps(HOSTILE)).replace("PYTHON", sys.executable)
    (root / "expfile.yaml").write_text(text)
    (root / "stage.py").write_text(STAGE)
    (root / ".gitignore").write_text("/.expman/\n/outputs/\n/runs/\nmetrics.json\ngo\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "hostile")
    for args in (
        ("run",),
        ("end", "-m", HOSTILE),
        ("note", "1", "-m", HOSTILE),
        ("tag", "1", "+" + HOSTILE),
    ):
        done = expman(root, *args)
        assert done.returncode == 0, done.stderr
    runner = subprocess.Popen(
        [str(BIN / "expman"), "run", "-s", "HOLD=1"],
        cwd=root,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    folder = root / "runs" / "0002"
    deadline = time.monotonic() + 60
    while not (
        (folder / "heartbeat.json").is_file() and (folder / "live" / "series.jsonl").exists()
    ):
        assert time.monotonic() < deadline and runner.poll() is None, "run 0002 never flew"
        time.sleep(0.05)
    time.sleep(1)  # the runner reads the series it wrote: the watch trend shows them
    yield root
    (root / "go").touch()
    assert runner.wait(timeout=60) == 0


ROUTES = [
    ("list",),
    ("list", "--columns", "vars.TEXT,metrics,tags"),
    ("show", "1"),
    ("show", "2"),
    ("diff", "1", "2"),
    ("watch", "--once"),
    ("status",),
    ("query", "--format", "table", "[].{h: hypothesis, o: observations, n: notes[].text}"),
]


@pytest.mark.parametrize("route", ROUTES, ids=" ".join)
def test_what_a_command_shows_of_a_hostile_archive_is_escaped(
    hostile: Path, route: tuple[str, ...]
) -> None:
    done = expman(hostile, *route)
    assert done.returncode == 0, done.stderr
    assert_shown_escaped(done.stdout)


@pytest.mark.parametrize("route", [("list",), ("show", "1"), ("watch", "--once"), ("status",)])
def test_on_a_terminal_too(hostile: Path, route: tuple[str, ...]) -> None:
    assert_shown_escaped(on_terminal(hostile, *route), terminal=True)


def test_watch_live_on_a_terminal_redraws_escaped_metric_names(hostile: Path) -> None:
    """The live view (redrawn in place) shows the metric names of the run in flight
    escaped; it is stopped once it has drawn them."""
    main, secondary = pty.openpty()
    watching = subprocess.Popen(
        [str(BIN / "expman"), "watch", "--every", "0.2"],
        cwd=hostile,
        env=_env(),
        stdout=secondary,
        stderr=secondary,
        start_new_session=True,
    )
    os.close(secondary)
    shown = b""
    deadline = time.monotonic() + 60
    try:
        while b"loss" not in shown or shown.count(b"in flight") < 2:
            assert time.monotonic() < deadline, shown
            ready, _, _ = select.select([main], [], [], 1)
            if ready:
                shown += os.read(main, 65536)
    finally:
        watching.kill()
        watching.wait(timeout=30)
        os.close(main)
    assert_shown_escaped(shown.decode("utf-8"), terminal=True)


def test_query_csv_is_exact_data_in_a_pipe_and_escaped_on_a_terminal(hostile: Path) -> None:
    expression = "[].{id: id, h: hypothesis}"
    data = expman(hostile, "query", "--format", "csv", expression).stdout
    assert HOSTILE in data, "CSV is data: what a program reads is the exact text"
    assert_shown_escaped(
        on_terminal(hostile, "query", "--format", "csv", expression), terminal=True
    )


def test_json_output_is_the_exact_value_with_every_control_as_a_json_escape(
    hostile: Path,
) -> None:
    query = expman(hostile, "query", "[0].hypothesis").stdout
    record = expman(hostile, "show", "1", "--json").stdout
    rows = expman(hostile, "list", "--format", "json").stdout
    for text in (query, record, rows):
        assert CONTROLS.search(text) is None, text
    assert json.loads(query) == HOSTILE
    assert json.loads(record)["hypothesis"] == HOSTILE
    assert json.loads(rows)[0]["hypothesis"] == HOSTILE


def test_logs_give_the_bytes_the_stage_wrote(hostile: Path) -> None:
    done = subprocess.run(
        [str(BIN / "expman"), "logs", "1"], cwd=hostile, capture_output=True, timeout=60
    )
    assert ("raw " + HOSTILE + "\n").encode() in done.stdout, "as `cat` would show them"


def test_an_error_message_echoing_what_was_typed_or_read_is_escaped(hostile: Path) -> None:
    done = expman(hostile, "show", HOSTILE)
    assert done.returncode == 2 and "is not a run" in done.stderr
    assert_shown_escaped(done.stderr)
    broken = hostile / "broken"
    broken.mkdir(exist_ok=True)
    stages = f"{{run: {{cmd: x}}, fetch: {{cmd: x}}, {json.dumps(HOSTILE)}: {{cmd: x}}}}"
    (broken / "expfile.yaml").write_text(f"version: 1\nname: x\nstages: {stages}\n")
    done = expman(broken, "validate")  # a stage name that cannot be: quoted from the file
    assert done.returncode == 2 and "unknown key" in done.stderr, done.stderr
    assert_shown_escaped(done.stderr)


@pytest.mark.slow
def test_a_sweep_shows_its_hostile_points_and_hypothesis_escaped(
    tmp_path: Path,
) -> None:
    root = tmp_path / "exp"
    root.mkdir()
    text = EXPFILE.replace("HOSTILE_JSON", json.dumps("plain")).replace("PYTHON", sys.executable)
    (root / "expfile.yaml").write_text(text)
    (root / "stage.py").write_text(STAGE)
    (root / ".gitignore").write_text("/.expman/\n/outputs/\n/runs/\nmetrics.json\n/points*\n")
    (root / "points.jsonl").write_text(json.dumps({"TEXT": HOSTILE}) + "\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "sweep")
    plan = expman(root, "sweep", "--points", "points.jsonl", "--plan")
    assert plan.returncode == 0, plan.stderr
    assert_shown_escaped(plan.stdout)
    done = expman(root, "sweep", "-m", HOSTILE, "--points", "points.jsonl")
    assert done.returncode == 0, done.stderr
    assert_no_controls(done.stderr)  # a point started, a point ended: its vars (as JSON)
    assert_shown_escaped(done.stdout)  # the sweep's table: hypothesis, vars, metrics
    assert_shown_escaped(expman(root, "sweep", "status").stdout)


def test_what_a_point_says_of_a_problem_reaches_its_log_escaped(
    experiment: Callable[..., Path],
) -> None:
    """A sweep's point is a process of its own, with its own log: its error message (here
    quoting a key of the sweep's expfile, edited by hand) is escaped as cli's are."""
    root = experiment(
        "version: 1\nname: points\nvars: {FAIL: 0}\n"
        "stages:\n  run: {cmd: 'test \"$FAIL\" = 0'}\n  fetch: {cmd: 'true'}\n"
    )
    assert expman(root, "sweep", "-s", "FAIL=1").returncode == 1  # its point fails
    kept = root / "runs" / "sweeps" / "s0001" / "expfile.yaml"
    kept.write_text(kept.read_text() + f"{json.dumps(HOSTILE)}: 1\n")
    done = expman(root, "sweep", "--resume", "s0001")
    assert done.returncode == 1
    assert_no_controls(done.stderr)
    log = (root / "runs" / "sweeps" / "s0001" / "logs" / "point-0.log").read_text()
    assert "expman: point 0: expfile.yaml:" in log and "unknown key" in log, log
    assert_shown_escaped(log)

"""What a stage writes to `$EXPMAN_METRICS` is untrusted: no line, no file put in its place
and no process left behind can break a run's end, a reader, or another run's history."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import jsonschema
import pytest

from expman.observe import series, seriesreader
from expman.store import record
from tests.conftest import RunCli, objects_match_their_names, records

BIN = Path(sys.executable).parent
Experiment = Callable[..., Path]
MEMORY = 2 << 30  # address space of each expman started here: a runaway read fails, not the machine

HOSTILE = """\
version: 1
name: hostile
vars: {CASE: none}
stages:
  run:
    cmd: PYTHON write.py
  fetch: {cmd: "true"}
"""

WRITE = """\
import os, sys
path = os.environ["EXPMAN_METRICS"]
with open(path, "ab") as f:
    f.write(b'{"step": 0, "loss": 1.0}\\n')
    with open(os.environ["CASE"], "rb") as case:
        f.write(case.read())
    f.write(b'{"step": 10, "loss": 0.5}\\n')
"""

LONG_LINE = b'{"pad": "' + b"x" * (5 << 20) + b'", "loss": 9}\n'

# A line -> the loss values read (in order) and whether the line is skipped and counted.
LINES = {
    "nan-step": (b'{"step": NaN, "loss": 2}\n', [1.0, 0.5], True),
    "infinite-step": (b'{"step": 1e309, "loss": 2}\n', [1.0, 0.5], True),
    "huge-integer-step": (b'{"step": 1' + b"0" * 400 + b', "loss": 2}\n', [1.0, 0.5], True),
    "text-step": (b'{"step": "3", "loss": 2}\n', [1.0, 0.5], True),
    "boolean-step": (b'{"step": true, "loss": 2}\n', [1.0, 0.5], True),
    "nested-100000-deep": (
        b'{"loss": 3, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n",
        [1.0, 0.5],
        True,
    ),
    "not-utf8": (b'{"loss": 3, "name": "\xff\xfe"}\n', [1.0, 0.5], True),
    "longer-than-a-line-may-be": (LONG_LINE, [1.0, 0.5], True),
    "negative-and-fractional-steps": (
        b'{"step": -5, "loss": 2}\n{"step": 2.5, "loss": 3}\n',
        [1.0, 2, 3, 0.5],
        False,
    ),
    "values-that-are-not-numbers": (
        b'{"step": 3, "loss": 4, "s": "high", "l": [1], "d": {"a": 1}, "b": true, "n": null}\n',
        [1.0, 4, 0.5],
        False,
    ),
    "a-huge-integer-value": (b'{"step": 4, "loss": 1' + b"0" * 400 + b"}\n", None, False),
    "a-name-that-is-not-unicode-text": (b'{"\\ud800": 1, "x\\udfff": 2}\n', [1.0, 0.5], False),
    "names-with-control-characters": (
        b'{"\\u001b[2J\\u001b]0;x\\u0007": 1, "a\\u0000b\\u009b": 2}\n',
        [1.0, 0.5],
        False,
    ),
}


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COV_CORE")}
    return {**env, "EXPMAN_HEARTBEAT": "0.2", "NO_COLOR": "1"}


def expman(root: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """An expman command run as a user runs it, in bounded memory; a hang fails the test."""
    return subprocess.run(
        [str(BIN / "expman"), *args],
        cwd=root,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_limited,
    )


def _schema() -> dict[str, object]:
    schema: dict[str, object] = json.loads(
        (Path(record.__file__).parent / "run.schema.json").read_text()
    )
    return schema


def _strict(path: Path) -> dict[str, object]:
    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in {path}: not strict JSON")

    value: dict[str, object] = json.loads(path.read_text(), parse_constant=refuse)
    return value


@pytest.fixture
def hostile(experiment: Experiment) -> Path:
    return experiment(HOSTILE.replace("PYTHON", sys.executable), **{"write.py": WRITE})


@pytest.mark.parametrize("case", list(LINES))
def test_a_hostile_line_is_skipped_or_read_and_never_breaks_the_run(
    hostile: Path, run_cli: RunCli, tmp_path: Path, case: str
) -> None:
    line, losses, skipped = LINES[case]
    (tmp_path / "case").write_bytes(line)
    code, _, err = run_cli("run", "-s", f"CASE={tmp_path / 'case'}")
    assert code == 0, err
    folder = hostile / "runs" / "0001"
    run = _strict(folder / "run.json")
    jsonschema.validate(run, _schema())
    assert run["status"] == "succeeded"
    loss = run["series"]["loss"]  # type: ignore[index]
    if losses is not None:
        assert loss["count"] == len(losses)
        assert (loss["first"], loss["last"]) == (1.0, 0.5)
        assert loss["min"] == min(losses) and loss["max"] == max(losses)
    else:
        assert (loss["count"], loss["max"]) == (3, 1.0)
    attempt = run["attempts"][0]  # type: ignore[index]
    assert ("line 2 is skipped: " in attempt.get("series_error", "")) is skipped, attempt
    _strict(folder / series.SAMPLED)
    assert (folder / series.FILE).read_bytes().endswith(b'{"step": 10, "loss": 0.5}\n')
    for command in (("list",), ("status",), ("end", "-m", "read")):
        code, _, err = run_cli(*command)
        assert code == 0, (command, err)


REPLACED = {
    "a-folder": 'rm -f "$EXPMAN_METRICS"; mkdir "$EXPMAN_METRICS"',
    "a-fifo": 'rm -f "$EXPMAN_METRICS"; mkfifo "$EXPMAN_METRICS"',
    "a-link-to-dev-zero": 'rm -f "$EXPMAN_METRICS"; ln -s /dev/zero "$EXPMAN_METRICS"',
    "a-link-to-a-file-of-the-user": (
        'rm -f "$EXPMAN_METRICS"; ln -s "$PWD/notes.txt" "$EXPMAN_METRICS"'
    ),
    "its-folder-a-link-to-a-folder-of-the-user": (
        'live=$(dirname "$EXPMAN_METRICS"); rm -r "$live"; ln -s "$PWD/elsewhere" "$live"'
    ),
}

REPLACING = """\
version: 1
name: replacing
stages:
  run:
    cmd: |
      echo '{"loss": 1}' >> "$EXPMAN_METRICS"
      REPLACE
      touch "$EXPMAN_RUN_DIR/replaced"
      sleep WAIT
  fetch: {cmd: "true"}
"""


# One case in the fast subset (a link to a file of the user's: the one followed would leak);
# every case in the full suite.
@pytest.mark.parametrize(
    "case",
    [
        pytest.param(case, marks=() if case == "a-link-to-a-file-of-the-user" else pytest.mark.slow)
        for case in REPLACED
    ],
)
def test_the_series_file_replaced_by_a_stage_is_refused_and_never_followed(
    experiment: Experiment, case: str
) -> None:
    """A folder, a pipe or a link put in its place: the run ends, readers neither hang nor
    fill memory, and nothing the link points to is read or changed."""
    root = experiment(
        REPLACING.replace("REPLACE", REPLACED[case]).replace("WAIT", "0"),
        **{"notes.txt": '{"loss": 5}\n', "elsewhere__series.jsonl": '{"loss": 6}\n'},
    )
    done = expman(root, "run")
    assert done.returncode == 0, done.stderr
    assert "not a regular file" in done.stderr
    run = records(root)[0]
    assert run["status"] == "succeeded"
    # Nothing of the stages' (the runner's own samples under `sys/` come once a run
    # lasts a second, as it may on a loaded machine).
    assert [name for name in run["series"] if not name.startswith(seriesreader.RESERVED)] == []
    assert "not a regular file" in run["attempts"][0]["series_error"]
    for command in (("list",), ("status",), ("watch", "--once"), ("end", "-m", "read")):
        done = expman(root, *command, timeout=60)
        assert done.returncode == 0, (command, done.stderr)
    assert (root / "notes.txt").read_text() == '{"loss": 5}\n'
    assert (root / "elsewhere" / "series.jsonl").read_text() == '{"loss": 6}\n'


BLOCKING = """\
version: 1
name: blocking
stages:
  run:
    cmd: |
      echo '{"loss": 1}' >> "$EXPMAN_METRICS"
      mkdir -p "$EXPMAN_RUN_DIR/series.jsonl/x" "$EXPMAN_RUN_DIR/series.jsonl.kept/y"
  fetch: {cmd: "true"}
"""


def test_a_series_that_cannot_be_stored_is_said_and_the_run_ends(
    experiment: Experiment, run_cli: RunCli
) -> None:
    """A stage put folders where the archived series goes: storing fails, the run ends
    as its stages did, and the record says what was not stored."""
    root = experiment(BLOCKING)
    code, _, err = run_cli("run")
    assert code == 0, err
    run = records(root)[0]
    assert run["status"] == "succeeded" and run["series"]["loss"]["count"] == 1
    assert run["attempts"][0]["series_error"].startswith("series.jsonl: not stored: ")
    assert "not stored" in err
    assert run_cli("end", "-m", "ended")[0] == 0


@pytest.mark.slow
@pytest.mark.parametrize("case", ["nan-step", "a-fifo"])
def test_the_repair_of_a_killed_runner_survives_a_hostile_series(
    experiment: Experiment, case: str
) -> None:
    """The runner dies after a stage wrote a bad line (or put a pipe in the file's place):
    the next command records the run `interrupted` and every command works after it."""
    replace = REPLACED.get(case) or (
        """printf '{"step": NaN, "loss": 2}\\n' >> "$EXPMAN_METRICS\""""
    )
    root = experiment(REPLACING.replace("REPLACE", replace).replace("WAIT", "60"))
    runner = subprocess.Popen(
        [str(BIN / "expman"), "run"],
        cwd=root,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_limited,
    )
    try:
        deadline = time.monotonic() + 60
        while not (root / "runs" / "0001" / "replaced").exists():
            assert time.monotonic() < deadline and runner.poll() is None
            time.sleep(0.05)
        time.sleep(1.5)  # the monitor has read the file as it is now
    finally:
        os.killpg(runner.pid, signal.SIGKILL)
        runner.wait()
    for command in (("list",), ("status",), ("watch", "--once"), ("end", "-m", "dead")):
        done = expman(root, *command, timeout=60)
        assert done.returncode == 0, (command, done.stderr)
    run = records(root)[0]
    assert run["status"] == "interrupted"
    assert run["attempts"][0]["series_error"]
    jsonschema.validate(run, _schema())


@pytest.mark.parametrize("kind", ["a-fifo", "a-link-to-dev-zero"])
def test_a_heartbeat_replaced_by_a_pipe_or_a_link_is_no_heartbeat(
    experiment: Experiment, kind: str
) -> None:
    """What a process left by a dead run put in the heartbeat's place: readers neither
    hang nor fill memory (it is no heartbeat), and the run is repaired."""
    root = experiment(REPLACING.replace("REPLACE", "true").replace("WAIT", "60"))
    runner = subprocess.Popen(
        [str(BIN / "expman"), "run"],
        cwd=root,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    folder = root / "runs" / "0001"
    try:
        deadline = time.monotonic() + 60
        while not (folder / "replaced").exists():
            assert time.monotonic() < deadline and runner.poll() is None
            time.sleep(0.05)
    finally:
        os.killpg(runner.pid, signal.SIGKILL)
        runner.wait()
    beat = folder / "heartbeat.json"
    beat.unlink()
    if kind == "a-fifo":
        os.mkfifo(beat)
    else:
        beat.symlink_to("/dev/zero")
    done = expman(root, "watch", "--once", "--archive", "runs", timeout=30)
    assert done.returncode == 0, done.stderr
    assert "0001  " in done.stdout, done.stdout
    done = expman(root, "status", timeout=30)
    assert done.returncode == 0, done.stderr
    assert records(root)[0]["status"] == "interrupted"


ESCAPING = """\
version: 1
name: escaping
stages:
  run:
    cmd: |
      printf '{"step": 1, "loss": 0.5}\\n' >> "$EXPMAN_METRICS"
      env -u EXPMAN_RUN_UID bash -c '
        for i in $(seq 600); do [ -e "$1" ] && break; sleep 0.1; done
        printf "{\\"step\\": 2, \\"loss\\": 666}\\n" >> "$0"
        touch "$1.done"' "$EXPMAN_METRICS" "$PWD/flag-$EXPMAN_RUN_ID" >/dev/null 2>&1 &
  fetch: {cmd: "true"}
"""


def test_a_process_that_outlives_its_run_cannot_change_an_archived_series(
    experiment: Experiment, run_cli: RunCli
) -> None:
    """Two runs log the same series, so the store holds it once; a process of each that
    escaped the run appends to `$EXPMAN_METRICS` after `end`: no archived series changes."""
    root = experiment(ESCAPING)
    for run_id in ("0001", "0002"):
        assert run_cli("run")[0] == 0
        assert run_cli("end", "-m", run_id)[0] == 0
        (root / f"flag-{run_id}").touch()
        deadline = time.monotonic() + 30
        while not (root / f"flag-{run_id}.done").exists():
            assert time.monotonic() < deadline, "the escaped writer did not write"
            time.sleep(0.05)
    objects_match_their_names(root / "runs")
    for run_id in ("0001", "0002"):
        kept = root / "runs" / run_id / series.FILE
        assert kept.read_text() == '{"step": 1, "loss": 0.5}\n', run_id
    assert [r["series"]["loss"]["count"] for r in records(root)] == [1, 1]


MANY = """\
version: 1
name: many
stages:
  run:
    cmd: PYTHON many.py
  fetch: {cmd: "true"}
"""

MANY_NAMES = """\
import json, os
with open(os.environ["EXPMAN_METRICS"], "a") as f:
    for line in range(20):
        point = {f"m{line * 10_000 + i:06d}": i for i in range(10_000)}
        f.write(json.dumps({"step": line, "loss": 1.0 / (line + 1), **point}) + "\\n")
    f.write(json.dumps({"n" * 100_000: 1}) + "\\n")
"""


@pytest.mark.slow
def test_the_number_of_series_of_a_run_is_bounded_and_what_was_dropped_is_said(
    experiment: Experiment, run_cli: RunCli
) -> None:
    root = experiment(MANY.replace("PYTHON", sys.executable), **{"many.py": MANY_NAMES})
    code, _, err = run_cli("run")
    assert code == 0, err
    folder = root / "runs" / "0001"
    assert (folder / "run.json").stat().st_size < 1 << 20
    run = records(root)[0]
    assert len(run["series"]) == seriesreader.MAX_SERIES
    assert run["series"]["loss"]["count"] == 20  # the first names seen are the ones kept
    assert "m000000" in run["series"] and max(run["series"]) == "m000998"
    problem = run["attempts"][0]["series_error"]
    assert (
        f"more than 100,000 metrics beyond the first {seriesreader.MAX_SERIES:,} are dropped"
        in (problem)
    )
    assert '(the first: "m000999")' in problem
    assert "1 value under names longer than 256 characters or not valid text dropped" in problem
    assert (folder / series.SAMPLED).stat().st_size < 32 << 20


def test_keys_without_numbers_take_no_place_among_the_series(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    texts = {f"note{i}": "text" for i in range(seriesreader.MAX_SERIES)}
    path.write_text(json.dumps({**texts, "loss": 1}) + "\n")
    reader = seriesreader.Reader(path)
    reader.poll(complete=True)
    assert list(reader.summary()) == ["loss"] and reader.problem() is None


def _peak_memory_reading(path: Path, tmp_path: Path) -> tuple[int, dict[str, object]]:
    probe = (
        "import json, resource, sys\n"
        "from pathlib import Path\n"
        "from expman.observe import seriesreader\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "reader = seriesreader.Reader(Path(sys.argv[1]))\n"
        "reader.poll()\n"
        "reader.poll(complete=True)\n"
        "grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before\n"
        "print(json.dumps([grown, reader.summary(), reader.problem()]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_limited,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    grown, summary, problem = json.loads(done.stdout)
    return grown * 1024, {"summary": summary, "problem": problem}


@pytest.mark.slow
def test_a_line_of_hundreds_of_megabytes_is_skipped_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    with path.open("wb") as f:
        f.write(b'{"step": 0, "loss": 1}\n')
        f.truncate(300 << 20)  # 300 MB of NUL bytes and no newline (sparse: no disk used)
        f.seek(0, os.SEEK_END)
        f.write(b'\n{"step": 1, "loss": 2}\n' + b"[" * (8 << 20))  # and a torn deep one
    grown, read = _peak_memory_reading(path, tmp_path)
    assert grown < 48 << 20, f"reading grew the process by {grown >> 20} MB"
    assert read["summary"]["loss"]["count"] == 2  # type: ignore[index]
    assert read["problem"] == ("2 lines are skipped (the first: line 2): longer than 4 MB (2)")


def test_a_series_file_truncated_or_replaced_while_it_is_read_keeps_what_was_read(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text('{"step": 0, "loss": 3}\n{"step": 1, "loss": 2}\n')
    reader = seriesreader.Reader(path)
    reader.poll()
    path.write_text('{"step": 2, "loss": 1}\n')  # truncated, and written from the start
    reader.poll()
    replacement = tmp_path / "new.jsonl"
    replacement.write_text('{"step": 3, "loss": 0.5}\n{"step": 4, "loss": 0.25}\n')
    replacement.replace(path)
    reader.poll(complete=True)
    loss = reader.summary()["loss"]
    assert (loss["count"], loss["first"], loss["last"]) == (5, 3, 0.25)
    assert reader.problem() == (
        "truncated or replaced while it was read (2 times): the points read before are kept"
    )


@pytest.fixture
def in_flight_replaced(experiment: Experiment) -> Iterator[Path]:
    root = experiment(REPLACING.replace("REPLACE", REPLACED["a-fifo"]).replace("WAIT", "60"))
    runner = subprocess.Popen(
        [str(BIN / "expman"), "run"],
        cwd=root,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (root / "runs" / "0001" / "replaced").exists():
            assert time.monotonic() < deadline and runner.poll() is None
            time.sleep(0.05)
        yield root
    finally:
        os.killpg(runner.pid, signal.SIGTERM)
        try:
            runner.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(runner.pid, signal.SIGKILL)
            runner.wait()


def test_watch_of_a_run_whose_series_is_a_pipe_neither_hangs_nor_fails(
    in_flight_replaced: Path,
) -> None:
    done = expman(in_flight_replaced, "watch", "--once", "--archive", "runs", timeout=30)
    assert done.returncode == 0, done.stderr
    assert "0001  running" in done.stdout


def test_tail_reads_only_the_end_of_a_regular_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link").symlink_to("/dev/zero")
    (tmp_path / "folder").mkdir()
    (tmp_path / "big").write_bytes(b'{"loss": 1' + b"0" * 400 + b', "acc": 1}\n')
    probe = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from expman.observe import seriesreader\n"
        "names = ('fifo', 'link', 'folder', 'missing', 'big')\n"
        "print(json.dumps([seriesreader.tail(Path(sys.argv[1], n)) for n in names]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_limited,
    )
    assert done.returncode == 0, done.stderr
    *others, big = json.loads(done.stdout)
    assert others == [{}, {}, {}, {}]
    assert big == {"loss": [float("inf")], "acc": [1.0]}


def test_log_refuses_a_step_that_is_not_a_finite_number(tmp_path: Path) -> None:
    target = tmp_path / "s.jsonl"
    probe = (
        "import expman\n"
        "for step in (float('nan'), float('inf'), 10 ** 400, True, 'x'):\n"
        "    expman.log(step=step, loss=1)\n"
        "expman.log(step=2, loss=float('nan'))\n"
        "print('on')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "EXPMAN_METRICS": str(target)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and done.stdout == "on\n", done.stderr
    assert done.stderr.count("expman.log: step") == 1, done.stderr
    assert "is not a finite number: the point is not logged" in done.stderr
    assert target.read_text() == '{"step": 2, "loss": NaN}\n'

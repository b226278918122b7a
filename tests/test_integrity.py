"""Records that never lie, under hostile conditions: leftover writers, linked or unreadable
outputs, attempts that keep their own outputs and metrics, metrics JSON cannot hold, and
closed terminal streams."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import RunCli, objects_match_their_names, records, steps

BIN = Path(sys.executable).parent
Experiment = Callable[..., Path]


def _strict(text: str) -> object:
    """Parse JSON as RFC 8259 does: NaN and Infinity are not JSON."""

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in a record: not strict JSON")

    return json.loads(text, parse_constant=refuse)


LEFTOVER = """\
version: 1
name: leftover
stages:
  run:
    cmd: |
      echo original > "$EXPMAN_OUTPUTS/out.txt"
      ( exec 3>>"$EXPMAN_OUTPUTS/out.txt"; sleep 1; echo corrupted >&3 ) >/dev/null 2>&1 &
      echo $! > writer.pid
  fetch: {cmd: "true"}
"""


@pytest.mark.slow
def test_a_writer_left_by_a_successful_stage_is_stopped_and_reported(
    experiment: Experiment, run_cli: RunCli
) -> None:
    root = experiment(LEFTOVER)
    code, _, err = run_cli("run")
    assert code == 0, err
    assert "processes left running by the stages stopped" in err  # the subshell, its sleep
    run = records(root)[0]
    assert run["status"] == "succeeded"
    assert run["attempts"][0]["leftovers"] == 2
    time.sleep(1.3)
    assert (root / "outputs" / "out.txt").read_text() == "original\n"


ESCAPED = LEFTOVER.replace(
    "( exec 3>>", "env -u EXPMAN_RUN_UID bash -c 'exec 3>>\"$0\"; sleep 1; echo corrupted >&3' "
).replace('"$EXPMAN_OUTPUTS/out.txt"; sleep 1; echo corrupted >&3 )', '"$EXPMAN_OUTPUTS/out.txt"')


@pytest.mark.slow
def test_a_writer_that_escaped_expman_cannot_change_the_archive(
    experiment: Experiment, run_cli: RunCli
) -> None:
    """It keeps writing after `end`: the store's object is not its file, so the object
    stays what was archived, and a later run with the same content is stored truly."""
    root = experiment(ESCAPED)
    assert run_cli("run")[0] == 0
    assert run_cli("end", "-m", "first")[0] == 0
    time.sleep(1.3)  # the escaped writer has written to the file it held
    objects_match_their_names(root / "runs")
    assert run_cli("run")[0] == 0
    assert run_cli("end", "-m", "second")[0] == 0
    time.sleep(1.3)
    objects_match_their_names(root / "runs")
    for run_id in ("0001", "0002"):
        assert (root / "runs" / run_id / "outputs" / "out.txt").read_text() == "original\n"


SIMPLE = """\
version: 1
name: simple
stages:
  run: {cmd: "echo result > result.txt"}
  fetch: {cmd: "cp result.txt \\"$EXPMAN_OUTPUTS\\"/"}
"""


def test_outputs_that_link_elsewhere_are_refused_and_nothing_is_deleted(
    experiment: Experiment, run_cli: RunCli, tmp_path: Path
) -> None:
    root = experiment(SIMPLE)
    assert run_cli("run")[0] == 0
    home = tmp_path / "home-of-the-user"
    home.mkdir()
    (home / "thesis.tex").write_text("years of work")
    shutil.rmtree(root / "outputs")
    (root / "outputs").symlink_to(home)
    code, _, err = run_cli("end", "-m", "done")
    assert code == 2
    assert "outputs/ is a symbolic link" in err and "nothing was archived or deleted" in err
    assert (home / "thesis.tex").read_text() == "years of work"
    assert records(root)[0]["ended"] is None, "the run stays open"
    code, _, err = run_cli("run")
    assert code == 2 and "symbolic link" in err
    assert (home / "thesis.tex").read_text() == "years of work"


def _without_read_override(*argv: str) -> list[str]:
    """`argv` run without the power to read what its user may not (root's DAC override)."""
    if os.geteuid() != 0:
        return list(argv)
    if shutil.which("setpriv") is None:
        pytest.fail("setpriv (util-linux) is needed to test unreadable folders as root")
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", "--", *argv]


def test_an_output_folder_that_cannot_be_read_is_refused_until_it_can(
    experiment: Experiment, run_cli: RunCli
) -> None:
    root = experiment(SIMPLE)
    assert run_cli("run")[0] == 0
    private = root / "outputs" / "container"
    private.mkdir()
    (private / "weights.bin").write_bytes(b"w" * 100)
    if os.geteuid() == 0:
        for path in (private, private / "weights.bin"):
            os.chown(path, 65534, 65534)
    private.chmod(0o700)
    end = _without_read_override(str(BIN / "expman"), "end", "-m", "done")
    result = subprocess.run(end, cwd=root, capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert "cannot archive the outputs of run 0001: Permission denied" in result.stderr
    assert "chmod -R u+rX" in result.stderr
    private.chmod(0o755)
    assert (private / "weights.bin").read_bytes() == b"w" * 100
    assert records(root)[0]["ended"] is None
    assert run_cli("end", "-m", "done")[0] == 0
    archived = root / "runs" / "0001" / "outputs" / "container" / "weights.bin"
    assert archived.read_bytes() == b"w" * 100


RETRY = """\
version: 1
name: retry
vars:
  FAIL: 0
stages:
  run:
    cmd: |
      ls -A "$EXPMAN_OUTPUTS" > seen-at-start.txt
      echo "attempt with FAIL=$FAIL" > "$EXPMAN_OUTPUTS/log.txt"
      [ "$FAIL" = 0 ] || exit 1
      echo '{"acc": 0.9}' > "$EXPMAN_OUTPUTS/metrics.json"
  fetch: {cmd: "true"}
metrics: outputs/metrics.json
"""


def test_each_attempt_keeps_its_own_outputs_and_metrics(
    experiment: Experiment, run_cli: RunCli
) -> None:
    root = experiment(RETRY)
    assert run_cli("run")[0] == 0
    code, _, _ = run_cli("run", "-s", "FAIL=1")
    assert code == 1
    assert (root / "seen-at-start.txt").read_text() == "", "a new attempt starts empty"
    run = records(root)[0]
    first, second = run["attempts"]
    assert run["status"] == "failed"
    assert run["metrics"] is None, "the failed retry has no metrics of its own"
    assert first["metrics"] == {"acc": 0.9} and second["metrics"] is None
    assert second["metrics_error"] == "no metrics file outputs/metrics.json"
    assert [o["path"] for o in first["outputs"]] == ["log.txt", "metrics.json"]
    kept = root / "runs" / "0001" / "attempts" / "1" / "outputs"
    assert (kept / "log.txt").read_text() == "attempt with FAIL=0\n"
    assert run_cli("end", "-m", "x")[0] == 0
    run = records(root)[0]
    assert [o["path"] for o in run["outputs"]] == ["log.txt"]
    assert run["attempts"][1]["outputs"] == run["outputs"]
    assert (root / "runs" / "0001" / "outputs" / "log.txt").read_text() == ("attempt with FAIL=1\n")


def test_files_in_outputs_that_no_attempt_made_are_refused(
    experiment: Experiment, run_cli: RunCli
) -> None:
    root = experiment(SIMPLE)
    (root / "outputs").mkdir()
    (root / "outputs" / "mine.txt").write_text("not the run's")
    code, _, err = run_cli("run")
    assert code == 2 and "outputs/ holds files that no attempt of run 0001 made (mine.txt)" in err
    assert (root / "outputs" / "mine.txt").read_text() == "not the run's"


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("m.yaml", "day: 2024-01-02\nloss: .nan\nbest: .inf\n", None),
        ("m.json", '{"loss": NaN, "worst": -Infinity}', {"loss": "NaN", "worst": "-Infinity"}),
        ("m.json", "[" * 1000 + "]" * 1000, None),
        ("m.json", "[" * 100000 + "]" * 100000, None),
        ("m.yaml", "a: !!binary aGVsbG8=\nb: !!set {x, y}\n", {"a": "hello", "b": ["x", "y"]}),
        ("m.yaml", "x: !!python/object:os.system {}\n", None),
        # Numbers no 64-bit float holds, which readers of records would take for infinity
        # (the first is also beyond the 4,300 digits Python writes of an int).
        ("m.yaml", "big: 0x" + "f" * 4000 + "\n", {"big": "Infinity"}),
        ("m.json", '{"low": -1' + "0" * 400 + "}", {"low": "-Infinity"}),
        # Text that is no text (a lone surrogate, which UTF-8 cannot hold), as its escape.
        ("m.json", '{"n": "\\ud800x", "\\udfff": 1}', {"n": "\\ud800x", "\\udfff": 1}),
        # A number too small for a 64-bit float is kept as written, never taken for 0.
        (
            "m.json",
            '{"tiny": 1e-400, "zero": 0e5, "small": -2.5e-300}',
            {"tiny": "1e-400", "zero": 0, "small": -2.5e-300},
        ),
    ],
)
def test_metrics_never_break_a_run_and_records_stay_strict_json(
    experiment: Experiment, run_cli: RunCli, name: str, content: str, expected: object
) -> None:
    expfile = SIMPLE.replace("fetch:", f'post-run: {{cmd: "cp {name} outputs/"}}\n  fetch:')
    root = experiment(expfile + f"metrics: outputs/{name}\n", **{name: content})
    code, _, err = run_cli("run")
    assert code == 0, err
    assert "Traceback" not in err
    text = (root / "runs" / "0001" / "run.json").read_text()
    run = _strict(text)
    assert isinstance(run, dict) and run["status"] == "succeeded"
    if name == "m.yaml" and content.startswith("day"):
        assert run["metrics"] == {"day": "2024-01-02", "loss": "NaN", "best": "Infinity"}
    elif expected is not None:
        assert run["metrics"] == expected
    else:
        assert run["metrics"] is None
        assert run["attempts"][0]["metrics_error"]
    code, _, err = run_cli("end", "-m", "ok")
    assert code == 0, err
    _strict((root / "runs" / "0001" / "run.json").read_text())


def test_a_run_with_closed_stdout_and_stderr_runs_and_says_so(experiment: Experiment) -> None:
    root = experiment(SIMPLE)
    result = subprocess.run(
        ["bash", "-c", f"'{BIN / 'expman'}' run >&- 2>&-"], cwd=root, capture_output=True
    )
    assert result.returncode == 0
    run = records(root)[0]
    assert run["status"] == "succeeded" and steps(run) == {"run": "ran", "fetch": "ran"}
    assert (root / "result.txt").read_text() == "result\n"
    result = subprocess.run(["bash", "-c", f"'{BIN / 'expman'}' end -m x >&- 2>&-"], cwd=root)
    assert result.returncode == 0
    assert (root / "runs" / "0001" / "outputs" / "result.txt").read_text() == "result\n"


@pytest.mark.parametrize(
    "command",
    [
        "status | head -c 1",
        "list | head -c 1",
        "query '[].id' | head -c 1",
        "show last | head -c 1",
        "run | head -c 1",
    ],
)
def test_a_pipe_closed_early_is_not_an_error(experiment: Experiment, command: str) -> None:
    root = experiment(SIMPLE.replace("echo result", "seq 100000; echo result"))
    subprocess.run([str(BIN / "expman"), "run"], cwd=root, capture_output=True, check=True)
    result = subprocess.run(
        ["bash", "-c", f"set -o pipefail; '{BIN / 'expman'}' {command}"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert result.returncode == 0, result.stderr
    if command.startswith("run"):
        assert records(root)[0]["status"] == "succeeded"


def test_an_attempt_that_cannot_begin_leaves_the_earlier_ones_as_they_were(
    experiment: Experiment, run_cli: RunCli, tmp_path: Path
) -> None:
    root = experiment(SIMPLE)
    assert run_cli("run")[0] == 0
    before = (root / "runs" / "0001" / "run.json").read_text()
    shutil.rmtree(root / "outputs")
    (tmp_path / "elsewhere").mkdir()
    (root / "outputs").symlink_to(tmp_path / "elsewhere")
    code, _, err = run_cli("run")
    assert code == 2, err
    assert (root / "runs" / "0001" / "run.json").read_text() == before


SHARED_ARCHIVE = """\
version: 1
name: shared
archive: ../shared-runs
stages:
  run: {cmd: "true"}
  fetch: {cmd: "true"}
"""


def test_an_archive_outside_the_repository_keeps_the_code_version(
    experiment: Experiment, run_cli: RunCli
) -> None:
    root = experiment(SHARED_ARCHIVE)
    (root / "train.py").write_text("print('changed, not committed')\n")
    code, _, err = run_cli("run")
    assert code == 0, err
    assert "code version is not recorded" not in err
    run = records(root.parent, "shared-runs")[0]
    assert run["code"]["commit"] and run["code"]["dirty"] and run["code"]["error"] is None
    patch = (root.parent / "shared-runs" / "0001" / "code.patch").read_text()
    assert "changed, not committed" in patch


def test_removing_dot_expman_loses_no_open_run(experiment: Experiment, run_cli: RunCli) -> None:
    root = experiment(SIMPLE)
    assert run_cli("run")[0] == 0
    shutil.rmtree(root / ".expman")
    code, out, _ = run_cli("status")
    assert code == 0 and "open run 0001" in out
    assert run_cli("run")[0] == 0
    run = records(root)[0]
    assert len(run["attempts"]) == 2, "the open run went on; no new run took its outputs"
    shutil.rmtree(root / ".expman")
    assert run_cli("end", "-m", "found again")[0] == 0
    assert [r["id"] for r in records(root)] == ["0001"]
    assert records(root)[0]["observations"] == "found again"
    assert not list((root / "runs" / ".open").iterdir())
    assert run_cli("run")[0] == 0
    assert [r["id"] for r in records(root)] == ["0001", "0002"]


WAITING = """\
version: 1
name: waiting
stages:
  run:
    cmd: touch started; while [ ! -e go ]; do sleep 0.05; done
  fetch: {cmd: "true"}
"""


def _wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.mark.slow
def test_removing_dot_expman_under_a_live_run_never_repairs_it(experiment: Experiment) -> None:
    root = experiment(WAITING)
    first = subprocess.Popen([str(BIN / "expman"), "run"], cwd=root, stderr=subprocess.DEVNULL)
    try:
        _wait_for(root / "started")
        shutil.rmtree(root / ".expman")  # the lock file goes with it
        for command in (["run"], ["end", "-m", "x"], ["start"]):
            result = subprocess.run(
                [str(BIN / "expman"), *command], cwd=root, capture_output=True, text=True
            )
            assert result.returncode == 2, result.stderr
            assert f"run 0001 is being run by pid {first.pid}" in result.stderr
        listed = subprocess.run(
            [str(BIN / "expman"), "list"], cwd=root, capture_output=True, text=True
        )
        assert listed.returncode == 0 and "running" in listed.stdout
        (root / "go").touch()
        assert first.wait(timeout=30) == 0
    finally:
        first.kill()
    assert records(root)[0]["status"] == "succeeded"


def _reader_loop(root: Path, stop: Path) -> subprocess.Popen[bytes]:
    loop = (
        f"while [ ! -e '{stop}' ]; do for c in list status 'show last' 'query [].id'; do "
        f"'{BIN / 'expman'}' $c >/dev/null 2>&1; done; done"
    )
    return subprocess.Popen(["bash", "-c", loop], cwd=root)


@pytest.mark.slow
def test_readers_never_make_a_writer_fail(experiment: Experiment, tmp_path: Path) -> None:
    root = experiment(SIMPLE)
    stop = tmp_path / "stop"
    readers = [_reader_loop(root, stop) for _ in range(4)]
    try:
        for n in range(10):
            for command in (["run"], ["end", "-m", f"observation {n}"]):
                result = subprocess.run(
                    [str(BIN / "expman"), *command], cwd=root, capture_output=True, text=True
                )
                assert result.returncode == 0, result.stderr
    finally:
        stop.touch()
        for reader in readers:
            reader.wait(timeout=60)
    assert [r["observations"] for r in records(root)] == [f"observation {n}" for n in range(10)]


def test_readers_work_while_the_expfile_is_half_edited(
    experiment: Experiment, run_cli: RunCli
) -> None:
    root = experiment(SIMPLE.replace("name: simple", "name: simple\narchive: kept"))
    assert run_cli("run")[0] == 0
    (root / "expfile.yaml").write_text(
        "version: 1\nname: simple\narchive: kept  # still here\nstages:\n  run: {cmd: [\n"
    )
    for command in (["list"], ["query", "[].id"], ["show", "last"], ["diff", "1", "1"]):
        code, out, err = run_cli(*command)
        assert code == 0, (command, err)
        assert "0001" in out or command[0] == "diff"
    code, out, err = run_cli("status")
    assert code == 0 and "open run 0001" in out and "the expfile has problems" in out


@pytest.mark.slow
def test_end_killed_while_copying_leaves_nothing_behind(experiment: Experiment) -> None:
    root = experiment(
        SIMPLE.replace(
            '"echo result > result.txt"', '"head -c 400000000 /dev/zero > big.bin"'
        ).replace("cp result.txt", "cp big.bin")
    )
    subprocess.run([str(BIN / "expman"), "run"], cwd=root, capture_output=True, check=True)
    objects = root / "runs" / ".objects"
    end = subprocess.Popen(
        [str(BIN / "expman"), "end", "-m", "x"], cwd=root, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while not list(objects.glob(".incoming-*")) and end.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    end.kill()
    end.wait()
    assert list(objects.glob(".incoming-*")), "killed while copying: a partial object is left"
    result = subprocess.run(
        [str(BIN / "expman"), "end", "-m", "x"], cwd=root, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert list(objects.glob(".incoming-*")) == []
    assert (root / "runs" / "0001" / "outputs" / "big.bin").stat().st_size == 400_000_000
    objects_match_their_names(root / "runs")


def test_an_output_name_that_is_not_utf8_is_archived_escaped(
    experiment: Experiment, run_cli: RunCli
) -> None:
    root = experiment(SIMPLE.replace("cp result.txt", "cp result.txt $'caf\\\\xe9.txt'"))
    (root / os.fsdecode(b"caf\xe9.txt")).write_text("latin-1 name")
    assert run_cli("run")[0] == 0
    code, _, err = run_cli("end", "-m", "x")
    assert code == 0, err
    run = _strict((root / "runs" / "0001" / "run.json").read_text())
    assert isinstance(run, dict)
    assert sorted(o["path"] for o in run["outputs"]) == ["caf%E9.txt", "result.txt"]
    assert (root / "runs" / "0001" / "outputs" / "caf%E9.txt").read_text() == "latin-1 name"


def test_a_record_nested_too_deeply_is_skipped_as_damaged(
    experiment: Experiment, run_cli: RunCli
) -> None:
    root = experiment(SIMPLE)
    assert run_cli("run")[0] == 0
    assert run_cli("end", "-m", "x")[0] == 0
    assert run_cli("run")[0] == 0
    path = root / "runs" / "0001" / "run.json"
    path.chmod(0o644)
    path.write_text("[" * 100_000 + "]" * 100_000)
    code, out, err = run_cli("query", "[].id")
    assert (code, out) == (0, '["0002"]\n')
    assert "damaged record: nested too deeply" in err
    code, _, err = run_cli("show", "1")
    assert code == 2 and "nested too deeply" in err


def test_show_refuses_a_record_that_is_not_one(experiment: Experiment, run_cli: RunCli) -> None:
    root = experiment(SIMPLE)
    assert run_cli("run")[0] == 0
    path = root / "runs" / "0001" / "run.json"
    record = json.loads(path.read_text())
    record.update(vars=[1], code=5, stages="oops")
    path.write_text(json.dumps(record))
    for command in (["show", "1"], ["diff", "1", "1"]):
        code, _, err = run_cli(*command)
        assert code == 2, err
        assert "damaged record (it is not what run.schema.json describes)" in err
        assert "$.code: 5 is not of type 'object', 'null'" in err
    code, out, _ = run_cli("show", "1", "--json")
    assert code == 0 and json.loads(out)["code"] == 5


def test_a_writer_waits_out_a_readers_repair_instead_of_failing(
    experiment: Experiment, run_cli: RunCli
) -> None:
    """Deterministic form of the race above: a reader holds the lock to repair, right as
    `end` starts."""
    root = experiment(SIMPLE)
    assert run_cli("run")[0] == 0
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from expman.running.state import State\n"
            "with State(Path(sys.argv[1])).lock('repair', wait=False):\n"
            "    print('held', flush=True); time.sleep(1)\n",
            str(root),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    started = time.monotonic()
    code, _, err = run_cli("end", "-m", "after the repair")
    assert code == 0, err
    assert time.monotonic() - started > 0.5, "end waited for the reader"
    holder.wait(timeout=10)
    holder.stdout.close()
    assert records(root)[0]["observations"] == "after the repair"


def test_a_crash_after_an_attempts_outputs_were_kept_loses_none_of_them(
    experiment: Experiment, run_cli: RunCli
) -> None:
    """Attempt 2 archived attempt 1's outputs and emptied `outputs/`, then died before it
    recorded itself: the next attempt must not archive the empty folder over them."""
    from expman.running import outputs
    from expman.store.archive import Archive

    root = experiment(RETRY)
    assert run_cli("run")[0] == 0
    archive = Archive(root / "runs")
    run = archive.read("0001")
    kept = root / "runs" / "0001" / "attempts" / "1" / "outputs"
    run["attempts"][0]["outputs"] = outputs.archive(root, archive.objects, kept, "0001", sys.stderr)
    archive.write(run)
    outputs.empty(root)  # ... and here the attempt died
    assert run_cli("run")[0] == 0
    first = records(root)[0]["attempts"][0]
    assert [o["path"] for o in first["outputs"]] == ["log.txt", "metrics.json"]
    assert (kept / "log.txt").read_text() == "attempt with FAIL=0\n"


def test_end_reads_the_metrics_of_a_run_whose_runner_died(experiment: Experiment) -> None:
    root = experiment(
        "version: 1\nname: died\nstages:\n  run: {cmd: 'true'}\n  fetch:\n    cmd: |\n"
        '      echo \'{"acc": 0.7}\' > "$EXPMAN_OUTPUTS/m.json"; touch started; sleep 60\n'
        "metrics: outputs/m.json\n"
    )
    runner = subprocess.Popen([str(BIN / "expman"), "run"], cwd=root, stderr=subprocess.DEVNULL)
    _wait_for(root / "started")
    runner.kill()
    runner.wait()
    result = subprocess.run(
        [str(BIN / "expman"), "end", "-m", "x"], cwd=root, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    run = records(root)[0]
    assert run["status"] == "interrupted"
    assert run["metrics"] == {"acc": 0.7} == run["attempts"][0]["metrics"]

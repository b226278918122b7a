"""`expman start` and `expman end`: observations, outputs archived, the next run prepared."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from expman.store.archive import Archive
from tests.conftest import RunCli, records

Experiment = Callable[..., Path]

EXPFILE = """\
# yaml-language-server: $schema=expfile.schema.json
version: 1
name: end-test   # a comment that must survive
hypothesis: outputs survive
observations: |
  the loss went down
  but slowly
# a comment between keys
vars:
  N: 3
stages:
  run:
    cmd: mkdir -p out/sub && seq $N > out/numbers.txt && echo same > out/sub/same.txt
  fetch:
    cmd: cp -r out/. "$EXPMAN_OUTPUTS"/ && ln -sf /etc/hostname "$EXPMAN_OUTPUTS"/outside
metrics: outputs/metrics.yaml
"""


@pytest.fixture
def ran(experiment: Experiment, run_cli: RunCli) -> Path:
    root = experiment(EXPFILE)
    (root / "out").mkdir()
    (root / "out" / "metrics.yaml").write_text("acc: 0.75\n")
    code, _, err = run_cli("run")
    assert code == 0, err
    return root


def test_end_takes_observations_from_the_expfile_and_clears_them(
    ran: Path, run_cli: RunCli
) -> None:
    before = (ran / "expfile.yaml").read_text()
    code, out, err = run_cli("end")
    assert (code, err) == (0, "")
    assert out.startswith("ended run 0001 (succeeded): 4 outputs")
    record = records(ran)[0]
    assert record["observations"] == "the loss went down\nbut slowly\n"
    after = (ran / "expfile.yaml").read_text()
    expected = before.replace("|\n  the loss went down\n  but slowly\n", '""\n')
    assert after == expected
    assert "# a comment that must survive" in after and "# a comment between keys" in after


def test_end_archives_and_empties_outputs(ran: Path, run_cli: RunCli) -> None:
    run_cli("end", "-m", "fine")
    record = records(ran)[0]
    assert record["status"] == "succeeded"
    # -m and the expfile's text: both kept, since the expfile's is cleared
    assert record["observations"] == "fine\n\nthe loss went down\nbut slowly\n"
    assert record["ended"] and record["ended_epoch"] >= record["started_epoch"]
    assert record["metrics"] == {"acc": 0.75}
    by_path = {o["path"]: o for o in record["outputs"]}
    assert set(by_path) == {"metrics.yaml", "numbers.txt", "sub/same.txt", "outside"}
    assert by_path["outside"] == {
        "path": "outside",
        "size": 0,
        "sha256": None,
        "link": "/etc/hostname",
    }
    assert by_path["numbers.txt"]["size"] == 6
    archived = ran / "runs" / "0001" / "outputs"
    assert (archived / "numbers.txt").read_text() == "1\n2\n3\n"
    assert (archived / "outside").is_symlink()
    assert str((archived / "outside").readlink()) == "/etc/hostname"
    assert not ((archived / "numbers.txt").stat().st_mode & 0o222), "archived files are read-only"
    assert list((ran / "outputs").iterdir()) == []
    assert 'observations: ""' in (ran / "expfile.yaml").read_text()


def test_identical_outputs_are_stored_once(ran: Path, run_cli: RunCli) -> None:
    run_cli("end", "-m", "one")
    run_cli("run", "-s", "N=4")
    run_cli("end", "-m", "two")
    first, second = (ran / "runs" / run_id / "outputs" for run_id in ("0001", "0002"))
    same = [(first / "sub" / "same.txt").stat(), (second / "sub" / "same.txt").stat()]
    assert same[0].st_ino == same[1].st_ino  # one object, linked twice
    assert (first / "numbers.txt").stat().st_ino != (second / "numbers.txt").stat().st_ino
    store = Archive(ran / "runs").objects.root
    digest = next(o["sha256"] for o in records(ran)[0]["outputs"] if o["path"] == "sub/same.txt")
    assert (store / digest[:2] / digest[2:]).stat().st_ino == same[0].st_ino


def test_the_next_run_starts_fresh(ran: Path, run_cli: RunCli) -> None:
    run_cli("end", "-m", "one")
    assert "no open run (last: 0001)" in run_cli("status")[1]
    run_cli("run")
    assert [r["id"] for r in records(ran)] == ["0001", "0002"]
    assert records(ran)[1]["ended"] is None


def test_rerun_before_end_is_a_new_attempt(ran: Path, run_cli: RunCli) -> None:
    run_cli("run", "-s", "N=5")
    record = records(ran)[0]
    assert [a["number"] for a in record["attempts"]] == [1, 2]
    assert record["attempts"][1]["overrides"] == {"N": 5}
    run_dir = ran / "runs" / "0001"
    assert (run_dir / "attempts" / "1" / "logs" / "run.out").exists()
    assert (run_dir / "attempts" / "1" / "expfile.yaml").read_text().count("N: 3") == 1
    assert (run_dir / "expfile.yaml").read_text().count("N: 5") == 1


def test_end_without_an_open_run(experiment: Experiment, run_cli: RunCli) -> None:
    experiment(EXPFILE)
    code, _, err = run_cli("end", "-m", "x")
    assert (code, err) == (
        2,
        "expman: no open run to end: `expman run` or `expman start` opens one\n",
    )


def test_start_then_end_without_running(experiment: Experiment, run_cli: RunCli) -> None:
    root = experiment(EXPFILE)
    code, out, _ = run_cli("start", "-m", "my guess")
    assert (code, out) == (0, "started run 0001: my guess\n")
    assert run_cli("start")[:3] == (
        2,
        "",
        "expman: run 0001 is still open: `expman end` closes it first\n",
    )
    assert records(root)[0]["status"] == "started"
    run_cli("end", "-m", "never ran")
    assert records(root)[0]["status"] == "interrupted"


def test_end_finishes_an_interrupted_end(ran: Path, run_cli: RunCli) -> None:
    """A crash after the record was written: `end` again empties outputs and closes the run."""
    run_cli("end", "-m", "first")
    record = records(ran)[0]
    (ran / "outputs" / "numbers.txt").write_text("left behind\n")
    (ran / ".expman" / "current.json").write_text(
        json.dumps({"id": "0001", "uid": record["uid"], "archive": "runs"})
    )
    assert run_cli("end", "-m", "second")[0] == 0
    assert records(ran)[0]["observations"].startswith("first\n")
    assert list((ran / "outputs").iterdir()) == []
    assert not (ran / ".expman" / "current.json").exists()


def test_archive_can_be_copied_and_read_elsewhere(
    ran: Path, run_cli: RunCli, tmp_path: Path
) -> None:
    run_cli("end", "-m", "done")
    copy = tmp_path / "copied-archive"
    shutil.copytree(ran / "runs", copy, symlinks=True)
    shutil.rmtree(ran / "runs", ignore_errors=False, onerror=_writable)
    (record,) = list(Archive(copy).records())
    assert isinstance(record, dict) and record["observations"].startswith("done\n")
    assert (copy / "0001" / "outputs" / "numbers.txt").read_text() == "1\n2\n3\n"


def _writable(func, path, _exc):  # read-only files need their folder writable only
    Path(path).parent.chmod(0o755)
    func(path)


def test_end_asks_the_editor_on_a_terminal(ran: Path, tmp_path: Path) -> None:
    """With no -m and no observations in the expfile, a terminal gets $EDITOR."""
    text = (ran / "expfile.yaml").read_text()
    (ran / "expfile.yaml").write_text(
        text.replace("observations: |\n  the loss went down\n  but slowly\n", "")
    )
    editor = tmp_path / "editor.py"
    editor.write_text(
        "import sys\n"
        "path = sys.argv[1]\n"
        "text = open(path).read()\n"
        "open(path, 'w').write('written in the editor\\n' + text)\n"
    )
    env = {**os.environ, "EDITOR": f"{sys.executable} {editor}"}
    pid, fd = pty.fork()
    if pid == 0:  # the child: expman end on a terminal
        os.chdir(ran)
        os.execve(sys.executable, [sys.executable, "-m", "expman", "end"], env)
    output = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, output
    assert records(ran)[0]["observations"] == "written in the editor"


def test_end_in_a_pipe_does_not_wait_for_an_editor(ran: Path) -> None:
    text = (ran / "expfile.yaml").read_text()
    (ran / "expfile.yaml").write_text(
        text.replace("observations: |\n  the loss went down\n  but slowly\n", "")
    )
    result = subprocess.run(
        [sys.executable, "-m", "expman", "end"],
        cwd=ran,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        env={**os.environ, "EDITOR": "false"},
    )
    assert result.returncode == 0, result.stderr
    assert records(ran)[0]["observations"] == ""
    assert result.stderr == (
        "expman: run 0001 records no observations (no -m, none in expfile.yaml): "
        "`expman note 1 -m TEXT` adds some\n"
    )


def test_end_while_the_expfile_is_being_edited_for_the_next_run(ran: Path, run_cli: RunCli) -> None:
    """Invalid for the schema: observations are still read, cleared, and recorded."""
    text = (ran / "expfile.yaml").read_text()
    edited = text.replace("metrics: outputs/metrics.yaml", "metrics: elsewhere.json\nstges: {}")
    (ran / "expfile.yaml").write_text(edited)
    code, _, err = run_cli("end")
    assert (code, err) == (0, "")
    record = records(ran)[0]
    assert record["observations"] == "the loss went down\nbut slowly\n"
    assert record["metrics"] == {"acc": 0.75}  # the run's own metrics file, not the new one
    assert (ran / "expfile.yaml").read_text() == edited.replace(
        "|\n  the loss went down\n  but slowly\n", '""\n'
    )


def test_end_with_an_expfile_that_is_not_yaml(ran: Path, run_cli: RunCli) -> None:
    broken = (ran / "expfile.yaml").read_text() + "stages: [unclosed\n"
    (ran / "expfile.yaml").write_text(broken)
    code, _, err = run_cli("end")
    assert code == 2
    assert err == (
        "expman: expfile.yaml is not plain YAML, so its observations cannot be read: fix it, "
        "or give them with `expman end -m OBSERVATIONS`\n"
    )
    assert records(ran)[0]["ended"] is None
    code, _, err = run_cli("end", "-m", "ended anyway")
    assert code == 0
    assert err == (
        "expman: warning: expfile.yaml is not plain YAML: its observations were left as they are\n"
    )
    assert records(ran)[0]["observations"] == "ended anyway"
    assert (ran / "expfile.yaml").read_text() == broken


def test_end_with_hostile_observations(ran: Path, run_cli: RunCli) -> None:
    text = (
        (ran / "expfile.yaml")
        .read_text()
        .replace(
            "observations: |\n  the loss went down\n  but slowly\n",
            "observations: !!python/object/apply:os.system ['touch pwned']\n",
        )
    )
    (ran / "expfile.yaml").write_text(text)
    code, _, err = run_cli("end")
    assert code == 2 and "is not plain YAML" in err and "Traceback" not in err
    assert run_cli("end", "-m", "x")[0] == 0
    assert not (ran / "pwned").exists() and (ran / "expfile.yaml").read_text() == text


def test_rerun_after_a_crash_between_snapshot_and_record(ran: Path, run_cli: RunCli) -> None:
    """A killed second attempt may have shelved attempt 1 and linked its own snapshot
    without recording itself: the next attempt replaces those leftovers."""
    run_dir = ran / "runs" / "0001"
    shelf = run_dir / "attempts" / "1"
    shelf.mkdir(parents=True)
    for name in ("expfile.yaml", "logs", "packages.json"):
        (run_dir / name).replace(shelf / name)
    (run_dir / "expfile.yaml").write_text("# the snapshot of an attempt never recorded\n")
    (run_dir / "logs").mkdir()
    code, _, err = run_cli("run", "-s", "N=5")
    assert code == 0, err
    record = records(ran)[0]
    assert [a["number"] for a in record["attempts"]] == [1, 2]
    assert "N: 5" in (run_dir / "expfile.yaml").read_text()
    assert "N: 3" in (shelf / "expfile.yaml").read_text()


@pytest.mark.parametrize(
    ("run", "kept"),
    [
        ('echo \'{"acc": 0.5}\' > "$EXPMAN_OUTPUTS/metrics.json"', ["metrics.json"]),
        ("true", []),
    ],
)
def test_fetch_is_optional(
    experiment: Experiment, run_cli: RunCli, run: str, kept: list[str]
) -> None:
    """A run that writes into $EXPMAN_OUTPUTS itself, or writes nothing, needs no fetch."""
    root = experiment(
        "version: 1\nname: outputs-only\nstages:\n  run:\n    cmd: " + json.dumps(run) + "\n"
        "metrics: outputs/metrics.json\n"
    )
    assert run_cli("validate")[0] == 0
    code, _, err = run_cli("run")
    assert code == 0, err
    assert "fetch" not in err.lower()
    assert run_cli("end", "-m", "done")[0] == 0
    (record,) = records(root)
    assert [s["name"] for s in record["stages"]] == ["run"]
    assert [f["path"] for f in record["outputs"]] == kept
    assert record["metrics"] == ({"acc": 0.5} if kept else None)

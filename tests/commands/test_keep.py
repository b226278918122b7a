"""`expman rm`, `gc` and `fsck`: removing runs reversibly, freeing what no kept run uses
(never what an archiving in progress is about to use), and finding damage."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from expman.store.archive import Archive
from expman.store.objects import hash_file
from tests.conftest import RunCli, records

Experiment = Callable[..., Path]
BIN = Path(sys.executable).parent

OUTPUT = """\
version: 1
name: keep
vars:
  CONTENT: shared
stages:
  run: {cmd: "true"}
  fetch: {cmd: "echo $CONTENT > \\"$EXPMAN_OUTPUTS/out.txt\\""}
"""


def _runs(run_cli: RunCli, *contents: str) -> None:
    for content in contents:
        assert run_cli("run", "-s", f"CONTENT={content}")[0] == 0
        assert run_cli("end", "-m", content)[0] == 0


def _object(root: Path, text: str) -> Path:
    from hashlib import sha256

    digest = sha256(text.encode()).hexdigest()
    return root / "runs" / ".objects" / digest[:2] / digest[2:]


def test_rm_is_reversible_until_purge_and_ids_are_never_given_again(
    experiment: Experiment, run_cli: RunCli
) -> None:
    root = experiment(OUTPUT)
    _runs(run_cli, "a", "b", "c")
    code, out, _ = run_cli("rm", "2", "last")
    assert code == 0 and "removed run 0002" in out and "removed run 0003" in out
    assert json.loads(run_cli("query", "[].id")[1]) == ["0001"]
    assert "0002" in run_cli("rm", "--list")[1]
    assert run_cli("rm", "--restore", "2")[0] == 0
    assert json.loads(run_cli("query", "[].id")[1]) == ["0001", "0002"]
    assert (root / "runs" / "0002" / "outputs" / "out.txt").read_text() == "b\n"
    _runs(run_cli, "d")
    assert [r["id"] for r in records(root)] == ["0001", "0002", "0004"], "0003 is kept"
    assert run_cli("rm", "--purge", "--yes")[0] == 0
    _runs(run_cli, "e")
    assert [r["id"] for r in records(root)][-1] == "0005", "a purged id is not given again"


def test_the_open_run_cannot_be_removed(experiment: Experiment, run_cli: RunCli) -> None:
    experiment(OUTPUT)
    assert run_cli("run")[0] == 0
    code, _, err = run_cli("rm", "1")
    assert code == 2 and "run 0001 is open (succeeded): `expman end` it first" in err


def test_gc_frees_only_what_no_kept_or_removed_run_uses(
    experiment: Experiment, run_cli: RunCli
) -> None:
    root = experiment(OUTPUT)
    _runs(run_cli, "kept", "removed", "purged")
    run_cli("rm", "2", "3")
    run_cli("rm", "--purge", "3")
    code, out, _ = run_cli("gc")
    assert code == 0 and out.startswith("freed 2 object(s)")  # its output and its expfile
    assert not _object(root, "purged\n").exists()
    assert _object(root, "removed\n").exists(), "a removed run can still be restored"
    assert _object(root, "kept\n").exists()
    run_cli("rm", "--purge", "--yes")
    assert run_cli("gc")[1].startswith("freed 2 object(s)")
    assert not _object(root, "removed\n").exists()
    assert run_cli("fsck")[0] == 0
    assert (root / "runs" / "0001" / "outputs" / "out.txt").read_text() == "kept\n"


@pytest.mark.slow
def test_gc_waits_for_an_archiving_in_progress(experiment: Experiment, run_cli: RunCli) -> None:
    """An object with no run folder left is about to be linked by an `end` that found it
    in the store: gc must not free it in between."""
    root = experiment(OUTPUT)
    _runs(run_cli, "again")
    run_cli("rm", "1")
    run_cli("rm", "--purge", "--yes")
    orphan = _object(root, "again\n")
    assert orphan.stat().st_nlink == 1
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from expman.store.archive import Archive\n"
            "with Archive(Path(sys.argv[1])).objects.writing():\n"
            "    print('archiving', flush=True); time.sleep(1.5)\n",
            str(root / "runs"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "archiving\n"
    gc = subprocess.Popen([str(BIN / "expman"), "gc"], cwd=root, stdout=subprocess.PIPE)
    time.sleep(0.7)
    assert gc.poll() is None, "gc waits while objects are being added and linked"
    assert orphan.exists()
    holder.wait(timeout=30)
    holder.stdout.close()
    assert gc.wait(timeout=30) == 0 and gc.stdout is not None
    freed = gc.stdout.read()
    gc.stdout.close()
    assert freed.startswith(b"freed ") and not orphan.exists()


@pytest.mark.slow
def test_gc_beside_ends_that_reuse_its_objects_loses_nothing(
    experiment: Experiment, run_cli: RunCli
) -> None:
    root = experiment(OUTPUT)
    loop = f"for i in $(seq 40); do '{BIN / 'expman'}' gc >/dev/null || exit 1; done"
    collector = subprocess.Popen(["bash", "-c", loop], cwd=root)
    for _ in range(8):
        _runs(run_cli, "same")
        run_cli("rm", "last")
        run_cli("rm", "--purge", "--yes")  # its object is left with one link, for gc to take
    _runs(run_cli, "same")
    assert collector.wait(timeout=120) == 0
    assert (root / "runs" / "0009" / "outputs" / "out.txt").read_text() == "same\n"
    assert run_cli("fsck")[0] == 0


def test_gc_killed_at_any_moment_frees_nothing_a_run_needs(
    experiment: Experiment, run_cli: RunCli
) -> None:
    root = experiment(OUTPUT)
    _runs(run_cli, *[f"r{n}" for n in range(12)])
    run_cli("rm", *[str(n) for n in range(1, 13, 2)])
    run_cli("rm", "--purge", "--yes")
    for delay in (0.05, 0.1, 0.15, 0.2):
        gc = subprocess.Popen([str(BIN / "expman"), "gc"], cwd=root, stdout=subprocess.DEVNULL)
        time.sleep(delay)
        gc.send_signal(signal.SIGKILL)
        gc.wait()
        assert run_cli("fsck")[0] == 0
    assert run_cli("gc")[0] == 0
    for data in records(root):
        path = root / "runs" / data["id"] / "outputs" / "out.txt"
        assert path.read_text() == data["observations"] + "\n"


def test_fsck_finds_corrupt_objects_and_missing_files(
    experiment: Experiment, run_cli: RunCli
) -> None:
    root = experiment(OUTPUT)
    _runs(run_cli, "x", "y")
    damaged = _object(root, "x\n")
    damaged.chmod(0o644)
    damaged.write_text("not x\n")
    (root / "runs" / "0002" / "outputs" / "out.txt").unlink()
    code, out, _ = run_cli("fsck")
    assert code == 4
    assert f"corrupt object: {damaged}" in out
    assert "missing file: 0002: outputs/out.txt" in out
    code, out, _ = run_cli("fsck", "--repair")
    assert "moved to .objects/.quarantine/" in out and not damaged.exists()
    quarantined = root / "runs" / ".objects" / ".quarantine"
    assert [hash_file(p) for p in quarantined.iterdir()] == [
        hash_file(root / "runs" / "0001" / "outputs" / "out.txt")
    ]
    assert Archive(root / "runs").ids() == ["0001", "0002"]


def test_fsck_compares_run_files_with_the_hashes_in_their_records(
    experiment: Experiment, run_cli: RunCli, tmp_path: Path
) -> None:
    """In a `cp -r` copy run files are copies, not links to objects: a changed one of the
    same size was "all well" when files were compared by size."""
    root = experiment(OUTPUT)
    _runs(run_cli, "x", "y")
    copy = tmp_path / "copy"
    shutil.copytree(root / "runs", copy)
    changed = copy / "0002" / "outputs" / "out.txt"
    changed.chmod(0o644)
    changed.write_text("z\n")
    (copy / "0001" / "scripts").mkdir()  # no script recorded: nothing to compare
    code, out, _ = run_cli("fsck", "--archive", str(copy))
    assert code == 4
    assert "wrong content: 0002: outputs/out.txt: it does not match its record" in out
    assert "0001" not in out


def test_after_repair_fsck_still_reports_the_run_files_of_a_corrupt_object(
    experiment: Experiment, run_cli: RunCli
) -> None:
    root = experiment(OUTPUT)
    _runs(run_cli, "x")
    damaged = _object(root, "x\n")
    damaged.chmod(0o644)
    damaged.write_text("not x\n")  # the run file is a link to it: changed as well
    assert run_cli("fsck", "--repair")[0] == 4
    code, out, _ = run_cli("fsck")
    assert code == 4
    assert "wrong content: 0001: outputs/out.txt" in out


def test_rm_takes_no_uid_as_a_path(experiment: Experiment, run_cli: RunCli) -> None:
    root = experiment(OUTPUT)
    _runs(run_cli, "x", "y")
    path = root / "runs" / "0001" / "run.json"
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "uid": "../../escaped"}))
    code, _, err = run_cli("rm", "1")
    assert code == 2
    assert "0001" in err and "'../../escaped' is not a uid" in err
    assert (root / "runs" / "0001").is_dir() and not (root / "escaped").exists()
    assert run_cli("rm", "2")[0] == 0


def test_purging_runs_not_removed_in_a_script_needs_yes(
    experiment: Experiment, run_cli: RunCli
) -> None:
    root = experiment(OUTPUT)
    _runs(run_cli, "a", "b")
    assert run_cli("rm", "--purge", "last") == (
        2,
        "",
        "expman: rm --purge: run 0002 is not removed: add --yes to remove and purge it "
        "for good (or `expman rm` it first)\n",
    )
    assert [r["id"] for r in records(root)] == ["0001", "0002"]
    assert run_cli("rm", "--purge", "--yes", "last") == (
        0,
        "purged 1 run(s): `expman gc` frees their files\n",
        "",
    )
    assert [r["id"] for r in records(root)] == ["0001"]
    assert run_cli("rm", "--list")[1] == ""
    _runs(run_cli, "c")
    assert [r["id"] for r in records(root)] == ["0001", "0003"], "a purged id is not given again"


def test_purging_every_removed_run_says_how_many(experiment: Experiment, run_cli: RunCli) -> None:
    root = experiment(OUTPUT)
    assert run_cli("rm", "--purge") == (0, "no removed run to purge\n", "")
    _runs(run_cli, "a", "b", "c")
    assert run_cli("rm", "1", "3")[0] == 0
    assert run_cli("rm", "--purge") == (
        2,
        "",
        "expman: rm --purge: 2 removed runs (0001, 0003) would be deleted for good: "
        "add --yes to purge them without asking\n",
    )
    assert "0003" in run_cli("rm", "--list")[1]
    assert run_cli("rm", "--purge", "-y")[1] == "purged 2 run(s): `expman gc` frees their files\n"
    assert run_cli("rm", "--list")[1] == ""
    assert [r["id"] for r in records(root)] == ["0002"]


def _on_a_terminal(root: Path, args: list[str], answer: bytes) -> tuple[int, bytes]:
    """`expman ARGS` on a terminal that types `answer` once it is asked."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: expman on a terminal
        os.chdir(root)
        os.execv(sys.executable, [sys.executable, "-m", "expman", *args])
    output = b""
    answered = False
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
        if not answered and b"[y/N]" in output:
            os.write(fd, answer)
            answered = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), output


@pytest.mark.slow
def test_purging_on_a_terminal_asks_first(experiment: Experiment, run_cli: RunCli) -> None:
    root = experiment(OUTPUT)
    _runs(run_cli, "a", "b", "c")
    assert run_cli("rm", "1")[0] == 0
    code, output = _on_a_terminal(root, ["rm", "--purge"], b"n\n")
    assert code == 0
    assert b"purge 1 removed run (0001) for good? [y/N] n\r\nnothing purged\r\n" in output
    assert "0001" in run_cli("rm", "--list")[1]
    code, output = _on_a_terminal(root, ["rm", "--purge", "2"], b"y\n")
    assert code == 0, output
    assert output.endswith(
        b"run 0002 is not removed: remove and purge it for good? [y/N] y\r\n"
        b"purged 1 run(s): `expman gc` frees their files\r\n"
    )
    assert [r["id"] for r in records(root)] == ["0003"]
    assert "0001" in run_cli("rm", "--list")[1]

"""What an adversarial review of spare workspaces (`expman.running.spares`) and of the
next run id's hint (`expman.store.nextid`) found, each fixed since: a test each, of the
behaviour that failed. Real sweeps, real git worktrees, real processes (a kill -9 or a
delay at an exact system call is delivered by strace)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import git, missing, records
from tests.sweeps.test_spares import _made, _seen, _spares_left, _sweep

BIN = Path(sys.executable).parent

EXPFILE = """\
version: 1
name: review
vars: {N: 0}
stages:
  run: {script: look.sh}
metrics: outputs/seen.json
"""


# Point 1 leaves a process that is not the run's (its own session and without the run's
# marker in its environment, as one a container engine, `systemd-run` or a server the stage
# asked for starts: the attempt's end stops only the processes that carry the marker) and
# rewrites the tracked code once the next run in its working folder has started.
LINGER = """\
#!/bin/bash
set -e
if [ "$N" = 1 ]; then
  env -u EXPMAN_RUN_UID setsid bash -c 'for i in $(seq 200); do
      if [ -e started ]; then echo LEAKED > code.txt; echo late > outputs/late.txt; exit; fi
      sleep 0.05
    done' </dev/null >/dev/null 2>&1 &
else
  touch started
  for i in $(seq 100); do [ -e outputs/late.txt ] && break; sleep 0.05; done
fi
late=no; [ -e outputs/late.txt ] && late=yes
printf '{"code": "%s", "late": "%s"}' "$(cat code.txt)" "$late" > "$EXPMAN_OUTPUTS/seen.json"
"""


def test_a_process_the_previous_point_left_never_changes_the_next_points_code(
    experiment: Callable[..., Path],
) -> None:
    """A point's stage left a background process (its own session, so the stage's group
    kill at its end misses it) that writes into its workspace after the run ended. Before
    spares, the workspace was removed: the process wrote into a deleted folder. Now the
    folder is parked and renamed to the next point's workspace: the process's working
    folder moves with it, and its writes land in the next point's checkout after `take`
    checked it. The next point then runs code that is not the committed code plus patch,
    while its record says it is (and finds another run's outputs in its own): a record
    that lies."""
    root = experiment(EXPFILE, **{"look.sh": LINGER, "code.txt": "ONE\n"})
    result = _sweep(root, "-s", "N=1..2", "--jobs", "1")
    assert result.returncode == 0, result.stderr
    time.sleep(0.5)
    seen = _seen(root)
    assert seen[0]["code"] == "ONE"
    # The second point saw other code, and another point's process wrote its outputs.
    assert seen[1] == {"code": "ONE", "late": "no"}, "the second point ran other code"


SPARE_EXPFILE = """\
version: 1
name: review
vars: {N: 0}
stages:
  run: {cmd: "true"}
"""


def _killed_at_rename(root: Path, call: str, nth: int) -> int:
    """Run `call` (spares' code, in a process of its own) and SIGKILL that process as it
    enters its `nth` rename: a kill -9 between two steps, delivered by strace."""
    if shutil.which("strace") is None:
        missing("strace is not installed: it delivers the kill at an exact step")
    renames = "rename,renameat,renameat2"
    code = f"from pathlib import Path\nfrom expman.running import spares\n{call}\n"
    done = subprocess.run(
        ["strace", "-f", "-qq", "-o", os.devnull, "-e", f"trace={renames}",
         "-e", f"inject={renames}:signal=KILL:when={nth}",
         sys.executable, "-c", code],
        cwd=root, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return done.returncode


def _worktrees(root: Path) -> int:
    return git(root, "worktree", "list", "--porcelain").count("worktree ")


def test_a_point_killed_while_parking_leaves_nothing_gc_cannot_remove(
    experiment: Callable[..., Path],
) -> None:
    """`park` renames the workspace to `SWEEP-spare-INDEX`, then
    rewrites git's `gitdir` note. A point killed outright (SIGKILL, the OOM killer, a
    power cut: the note is written unsynced) after the first rename leaves a spare whose
    git note names the old folder. `_renamed` then refuses it ("not a worktree whose git
    folder names it back"): `take` passes it by, the sweep's `remove_all` and `expman gc`
    skip it, and nothing else removes it. A full checkout and a stale `git worktree list`
    entry stay for good, one per such kill."""
    root = experiment(SPARE_EXPFILE, **{"code.txt": "ONE\n"})
    _made(root, "s0001-0")
    code = _killed_at_rename(root, "spares.park(Path('.'), 's0001', 0)", 2)
    assert code != 0, "the parking process was killed"
    assert "s0001-spare-0" in _spares_left(root), "killed after the folder's rename"
    gc = subprocess.run([str(BIN / "expman"), "gc"], cwd=root, capture_output=True, text=True)
    assert gc.returncode == 0, gc.stderr
    assert _spares_left(root) == [], "gc removes what a killed sweep left"
    assert _worktrees(root) == 1, "and git's note of it"


def test_a_point_killed_while_taking_a_spare_leaves_no_git_note(
    experiment: Callable[..., Path],
) -> None:
    """`take` renames the spare to the point's name, then rewrites git's
    note. A point killed in between leaves `SWEEP-INDEX` whose git note still names the
    spare; `expman gc` (`remove_stale_workspaces`) removes the folder (git refuses to
    remove a worktree it does not know by that name) but git's note stays: `git worktree
    list` shows a worktree that does not exist, until someone runs `git worktree prune`
    (which expman avoids on purpose)."""
    from expman.running import spares

    root = experiment(SPARE_EXPFILE, **{"code.txt": "ONE\n"})
    assert _sweep(root, "-s", "N=1..1").returncode == 0  # sweep s0001, for gc to know
    _made(root, "s0001-0")
    assert spares.park(root, "s0001", 0)
    code = _killed_at_rename(root, "spares.take(Path('.'), 's0001', 's0001-1', 'main', 'code')", 2)
    assert code != 0, "the taking process was killed"
    assert "s0001-1" in _spares_left(root), "killed after the folder's rename"
    gc = subprocess.run([str(BIN / "expman"), "gc"], cwd=root, capture_output=True, text=True)
    assert gc.returncode == 0, gc.stderr
    assert _worktrees(root) == 1, "gc leaves no git note of a workspace it removed"
    assert _spares_left(root) == [], "nor a signature file of a spare that is gone"


def _slow_creator(archive: Path, held: int = 3) -> subprocess.Popen[str]:
    """A process making one run in `archive`, whose `held`th fsync strace holds 1.5 s, as
    a busy disk or a network file system would (the first two: the new record and its
    staging folder, before the rename; the third: the archive folder, after); it prints
    the id it gave."""
    code = (
        "import sys\nfrom pathlib import Path\nfrom expman.store.archive import Archive\n"
        "print(Archive(Path(sys.argv[1])).create({'id': '', 'status': 'succeeded'}))\n"
    )
    return subprocess.Popen(
        ["strace", "-f", "-qq", "-o", os.devnull, "-e", "trace=fsync",
         "-e", f"inject=fsync:delay_exit=1500000:when={held}",
         sys.executable, "-c", code, str(archive)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_a_run_folder_added_while_a_run_is_published_is_never_passed_under(
    tmp_path: Path,
) -> None:
    """`publish` renames the new run's folder into the archive, syncs the archive folder,
    and only then notes its signature with the id it gave (`nextid.given`). What enters
    the archive between the rename and that `stat` (a run folder copied or moved in by
    hand, as `cp -r` or another tool does; the sync takes a while on a busy disk or a
    network file system: here strace makes that sync take 1.5 s) is taken as part of the
    state "just after id N was given". Every later run then gets N+1, N+2, ... below the
    run that was added, for as long as the folder is not changed otherwise: not one racy
    creator, but every run from then on. Before the hint, the next run listed the archive
    and came after it."""
    from expman.store.archive import Archive

    if shutil.which("strace") is None:
        missing("strace is not installed: it makes the sync slow")
    archive = Archive(tmp_path / "runs")
    assert archive.create({"id": "", "status": "succeeded"}) == "0001"
    creator = _slow_creator(archive.root)
    deadline = time.monotonic() + 30
    while not (archive.root / "0002").exists():
        assert time.monotonic() < deadline and creator.poll() is None
        time.sleep(0.001)
    shutil.copytree(archive.root / "0001", archive.root / "0099")  # by hand, meanwhile
    out, _ = creator.communicate(timeout=60)
    assert out.strip() == "0002"
    assert sorted(archive.ids()) == ["0001", "0002", "0099"]
    made = archive.create({"id": "", "status": "succeeded"})
    assert int(made) > 99, f"run {made} came after run 0002 but below run 0099"


def test_cleaning_a_spare_never_deletes_files_outside_it(
    experiment: Callable[..., Path], tmp_path: Path
) -> None:
    """`take` cleans the spare it renamed with `_clean`: for each entry, `lstat`, compare
    with the signature, and for a folder recurse into it by its path (`os.scandir(path)`,
    which follows a link), deleting every entry there that the checkout did not have. A
    folder replaced by a link between the `lstat` and the listing (by a process the last
    point left, as in the first test; strace holds the `lstat` 3 s so that the swap
    happens in that window every time) is followed: every file of the folder it points
    at, outside the experiment, is deleted. The workspace removal this replaces
    (`shutil.rmtree`) never follows a link: nothing outside the experiment may be lost."""
    from expman.running import spares

    if shutil.which("strace") is None:
        missing("strace is not installed: it holds the lstat")
    root = experiment(SPARE_EXPFILE, **{"code.txt": "ONE\n", "src__keep.txt": "kept\n"})
    _made(root, "s0001-0")
    assert spares.park(root, "s0001", 0)
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("three years\n")
    taken = root / ".expman" / "workspaces" / "s0001-1"
    stats = "stat,lstat,newfstatat,statx"
    code = "from pathlib import Path\nfrom expman.running import spares\n"
    code += "print(spares.take(Path.cwd(), 's0001', 's0001-1', 'main', 'code'))\n"
    taker = subprocess.Popen(
        ["strace", "-f", "-qq", "-o", os.devnull, "-P", str(taken / "src"),
         "-e", f"trace={stats}", "-e", f"inject={stats}:delay_exit=3000000:when=1",
         sys.executable, "-c", code],
        cwd=root, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not taken.exists():
        assert time.monotonic() < deadline and taker.poll() is None
        time.sleep(0.001)
    time.sleep(1)  # the taker is in its lstat of src/
    (taken / "src").rename(tmp_path / "moved-src")
    (taken / "src").symlink_to(precious)
    taker.communicate(timeout=60)
    assert (precious / "thesis.tex").exists(), "a file outside the experiment was deleted"


SHOW = """\
#!/bin/bash
printf '{"code": "%s"}' "$(cat code.txt)" > "$EXPMAN_OUTPUTS/seen.json"
"""


def test_a_spare_is_never_taken_by_a_sweep_of_other_code(experiment: Callable[..., Path]) -> None:
    """Sweep ids are an archive's (`s0001` is the first sweep of each archive), while the
    workspaces, spares included, are the experiment's (`.expman/workspaces/s0001-...`). A
    sweep killed outright (kill -9, the OOM killer, a reboot) leaves its spare; the
    researcher commits new code and points the expfile at a new archive; its first sweep
    is `s0001` again. `take` handed it the old spare, exactly as it was made: of the old
    commit (and the old expfile); the point ran the old code while its record named the
    new commit. A spare is now taken only by a point of the code it was made from."""
    from expman.running import spares
    from expman.store.archive import Archive
    from expman.sweeps import point
    from expman.sweeps.store import Sweeps

    root = experiment(EXPFILE, **{"look.sh": SHOW, "code.txt": "OLD\n"})
    assert _sweep(root, "-s", "N=1..1", "--jobs", "1").returncode == 0
    # The spare a point of that sweep leaves, as a sweep killed before its end leaves it.
    old = Sweeps(Archive(root / "runs"))
    data = old.read("s0001")
    point._make_workspace(root, old.folder("s0001"), data, "s0001-0", spare=True)
    assert spares.park(root, "s0001", 0)
    (root / "code.txt").write_text("NEW\n")
    expfile = root / "expfile.yaml"
    expfile.write_text(expfile.read_text() + "archive: runs2\n")
    git(root, "commit", "-qam", "new code, a new archive")
    result = _sweep(root, "-s", "N=1..1", "--jobs", "1")
    assert result.returncode == 0, result.stderr
    run = records(root, "runs2")[0]
    assert run["sweep"]["id"] == "s0001"
    assert run["metrics"]["code"] == "NEW", "the point ran another commit's code"
    assert _spares_left(root) == [], "the other code's spare is removed, not taken"


def test_a_removed_runs_id_is_never_given_again_with_creators_side_by_side(
    tmp_path: Path,
) -> None:
    """Two creators side by side and an `expman rm`, with nothing made by hand: creator A
    renames its run to 0002 and syncs the folder (slow: strace holds that sync 1.5 s);
    meanwhile creator B makes 0003 and `rm` moves it to the trash. A then notes "0002 was
    given last" with the folder as it is now, after B's run and the `rm`. The next run is
    given 0003: the id of the removed run, still in the trash, which is never to be given
    again (`Archive.publish`: "removed ones and purged ones included")."""
    from expman.store import trash
    from expman.store.archive import Archive

    if shutil.which("strace") is None:
        missing("strace is not installed: it makes the sync slow")
    archive = Archive(tmp_path / "runs")
    ended = {"id": "", "status": "succeeded", "ended": "2026-12-06T00:00:00Z"}
    assert archive.create(dict(ended)) == "0001"  # type: ignore[arg-type]
    creator = _slow_creator(archive.root)
    deadline = time.monotonic() + 30
    while not (archive.root / "0002").exists():
        assert time.monotonic() < deadline and creator.poll() is None
        time.sleep(0.001)
    assert archive.create(dict(ended)) == "0003"  # type: ignore[arg-type]
    trash.remove(archive, "0003")
    out, _ = creator.communicate(timeout=60)
    assert out.strip() == "0002"
    assert archive.removed_ids() == ["0003"]
    made = archive.create(dict(ended))  # type: ignore[arg-type]
    assert made not in archive.removed_ids(), f"{made}: the id of a removed run, given again"


def test_a_sweep_killed_while_removing_its_spares_leaves_no_git_note(
    experiment: Callable[..., Path],
) -> None:
    """`remove_all` renames a spare to `NAME.removed` (then git's note),
    then removes it. A sweep killed after the first rename leaves `NAME.removed` whose git
    note still names `NAME`; the next `remove_all` (`expman gc`) removes the folder, since
    it ends in `.removed`, but `_forget_worktree` refuses the note that does not name it
    back and git does not know the worktree by that name: the note stays, and `git
    worktree list` names a worktree that does not exist, for good."""
    from expman.running import spares

    root = experiment(SPARE_EXPFILE, **{"code.txt": "ONE\n"})
    _made(root, "s0001-0")
    assert spares.park(root, "s0001", 0)
    code = _killed_at_rename(root, "spares.remove_all(Path.cwd(), 's0001')", 2)
    assert code != 0, "the removing process was killed"
    assert "s0001-spare-0.removed" in _spares_left(root), "killed after the folder's rename"
    gc = subprocess.run([str(BIN / "expman"), "gc"], cwd=root, capture_output=True, text=True)
    assert gc.returncode == 0, gc.stderr
    assert _worktrees(root) == 1, "gc leaves no git note of a workspace it removed"


def test_an_id_is_never_given_twice_when_a_run_is_removed_while_another_is_made(
    tmp_path: Path,
) -> None:
    """Older than spares and the hint (the listing did the same): creator A chose id 0002
    and prepared its record (the sync before the rename held 1.5 s); meanwhile creator B
    made 0002 and `rm` moved it to the trash; A's rename to 0002 then succeeded, since the
    folder was gone: 0002 given twice (one in the trash). An id is now chosen and taken
    under the archive's id lock, which `rm` takes too. A stress of 4 creators and an `rm` of the
    newest run, without strace, gives dozens of such ids in a few seconds, before and after
    this change; and a creator whose rename failed because the id was taken, then saw the
    folder gone to the trash, fails with `cannot create a run` (`Archive.publish`)."""
    from expman.store import trash
    from expman.store.archive import Archive

    if shutil.which("strace") is None:
        missing("strace is not installed: it makes the sync slow")
    archive = Archive(tmp_path / "runs")
    ended = {"id": "", "status": "succeeded", "ended": "2026-12-06T00:00:00Z"}
    assert archive.create(dict(ended)) == "0001"  # type: ignore[arg-type]
    creator = _slow_creator(archive.root, held=2)
    staging = archive.root / ".staging"
    deadline = time.monotonic() + 30
    while not list(staging.glob(".new-*/run.json")):  # A chose its id and wrote its record
        assert time.monotonic() < deadline and creator.poll() is None
        time.sleep(0.001)
    made = archive.create(dict(ended))  # type: ignore[arg-type]
    assert made == "0003", "A's id is A's: B waits for A to take it (the archive's id lock)"
    trash.remove(archive, made)
    out, _ = creator.communicate(timeout=60)
    given = [*archive.ids(), *archive.removed_ids()]
    assert given.count(out.strip()) == 1, f"{out.strip()} given twice: {sorted(given)}"

"""Spare workspaces (`expman.running.spares`): a point whose run succeeded hands its
workspace to the sweep's next point, which takes it only when it is exactly as it was
made. Real sweeps, real git worktrees; each point's stage writes down what it saw."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from expman.running import spares, workspace
from tests.conftest import git, records

BIN = Path(sys.executable).parent

EXPFILE = """\
version: 1
name: spares
vars: {N: 0, TOUCH: ""}
stages:
  run: {script: look.sh}
metrics: outputs/seen.json
"""
# What the point saw as it started: the tracked file's content, which file it is (its inode
# and change time: an inode number alone can be a removed file's, given again), and whether
# anything an earlier point made is there; then it makes some, and changes what TOUCH says.
LOOK = """\
#!/bin/bash
set -e
left=no; [ -e scratch ] && left=yes
printf '{"code": "%s", "file": "%s", "left": "%s"}' "$(cat code.txt)" \\
  "$(stat -c %i-%.9Z code.txt)" "$left" > "$EXPMAN_OUTPUTS/seen.json"
mkdir -p scratch/deep && echo "$N" > scratch/deep/made.txt && ln -sf /etc/hostname scratch/link
case "$TOUCH" in
  append) echo more >> code.txt ;;
  same-size) mtime=$(stat -c %y code.txt); printf 'TWO\\n' > code.txt; touch -d "$mtime" code.txt ;;
  remove) rm code.txt ;;
  git) git -c user.name=t -c user.email=t@t commit -q --allow-empty -m inside ;;
esac
"""


def _sweep(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "expman"), "sweep", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _seen(root: Path) -> list[dict[str, object]]:
    """What each point saw, by point."""
    runs = sorted(records(root), key=lambda r: r["sweep"]["index"])
    return [r["metrics"] for r in runs]


def _spares_left(root: Path) -> list[str]:
    folder = root / ".expman" / "workspaces"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_points_hand_on_their_workspace_and_each_starts_as_if_it_were_new(
    experiment: Callable[..., Path],
) -> None:
    root = experiment(EXPFILE, **{"look.sh": LOOK, "code.txt": "ONE\n"})
    result = _sweep(root, "-s", "N=1..4", "--jobs", "1")
    assert result.returncode == 0, result.stderr
    seen = _seen(root)
    assert [s["code"] for s in seen] == ["ONE"] * 4
    assert [s["left"] for s in seen] == ["no"] * 4, "what a point made never reaches the next"
    assert len({s["file"] for s in seen}) == 1, "one checkout, handed from point to point"
    assert _spares_left(root) == [], "the sweep removes its spares"
    assert git(root, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_a_point_that_changed_the_code_hands_on_nothing(experiment: Callable[..., Path]) -> None:
    root = experiment(EXPFILE, **{"look.sh": LOOK, "code.txt": "ONE\n"})
    for how in ("append", "same-size", "remove", "git"):
        result = _sweep(root, "-s", "N=1..2", "-s", f"TOUCH={how}", "--jobs", "1")
        assert result.returncode == 0, (how, result.stderr)
    seen = _seen(root)
    # Each sweep's second point saw the code as committed, in a checkout of its own.
    assert [s["code"] for s in seen] == ["ONE"] * 8
    for first, second in zip(seen[::2], seen[1::2], strict=True):
        assert first["file"] != second["file"]
    assert _spares_left(root) == []
    assert git(root, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_a_failed_point_keeps_its_workspace_and_hands_on_nothing(
    experiment: Callable[..., Path],
) -> None:
    root = experiment(EXPFILE, **{"look.sh": LOOK + "exit $((N == 1))\n", "code.txt": "ONE\n"})
    result = _sweep(root, "-s", "N=1..3", "--jobs", "1")
    assert result.returncode == 1
    assert [r["status"] for r in sorted(records(root), key=lambda r: r["sweep"]["index"])] == [
        "failed",
        "succeeded",
        "succeeded",
    ]
    assert _spares_left(root) == ["s0001-0"], "kept for a look, as before"


def _made(root: Path, name: str) -> workspace.Workspace:
    commit = git(root, "rev-parse", "HEAD").strip()
    made = workspace.checkout(root, name, commit, None, "main")
    spares.note(made, "code")
    return made


def test_a_same_size_change_with_its_times_put_back_is_seen(
    experiment: Callable[..., Path],
) -> None:
    root = experiment(EXPFILE, **{"look.sh": LOOK, "code.txt": "ONE\n"})
    made = _made(root, "s0001-0")
    code = made.inside / "code.txt"
    before = code.stat()
    code.write_text("TWO\n")  # at once: the same size, and the times put back
    os.utime(code, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert spares.park(root, "s0001", 0)
    assert spares.take(root, "s0001", "s0001-1", "main", "code") is None
    assert _spares_left(root) == []


def test_a_spare_a_killed_sweep_left_is_taken_by_the_next_or_removed_by_gc(
    experiment: Callable[..., Path],
) -> None:
    root = experiment(EXPFILE, **{"look.sh": LOOK, "code.txt": "ONE\n"})
    made = _made(root, "s0001-0")
    (made.inside / "outputs").mkdir()
    (made.inside / "outputs" / "left.txt").write_text("a run's")
    assert spares.park(root, "s0001", 0)
    assert spares.take(root, "s0002", "s0002-0", "main", "code") is None, "another sweep's"
    taken = spares.take(root, "s0001", "s0001-5", "main", "code")
    assert taken is not None and taken.folder.name == "s0001-5"
    assert not (taken.inside / "outputs").exists(), "what the run added is removed"
    assert (taken.inside / "code.txt").read_text() == "ONE\n"
    assert git(taken.folder, "rev-parse", "--show-toplevel").strip() == str(taken.folder)
    assert str(taken.folder) in git(root, "worktree", "list")
    assert spares.park(root, "s0001", 5)
    assert _spares_left(root) == ["s0001-spare-5"]
    gc = subprocess.run([str(BIN / "expman"), "gc"], cwd=root, capture_output=True, text=True)
    assert gc.returncode == 0, gc.stderr
    assert _spares_left(root) == []
    assert git(root, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_a_spare_of_other_code_is_removed_not_taken(experiment: Callable[..., Path]) -> None:
    """Sweep ids are an archive's: an experiment that changed archives can hold a spare of
    another `s0001`, made from other code."""
    root = experiment(EXPFILE, **{"look.sh": LOOK, "code.txt": "ONE\n"})
    _made(root, "s0001-0")
    assert spares.park(root, "s0001", 0)
    assert spares.take(root, "s0001", "s0001-1", "main", "other code") is None
    assert _spares_left(root) == []
    assert git(root, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_a_spare_whose_git_file_names_another_worktree_is_never_moved(
    experiment: Callable[..., Path], tmp_path: Path
) -> None:
    root = experiment(EXPFILE, **{"look.sh": LOOK, "code.txt": "ONE\n"})
    other = tmp_path / "researchers-own-worktree"
    git(root, "worktree", "add", "-q", "--detach", str(other))
    admin = Path(git(other, "rev-parse", "--git-dir").strip())
    gitdir = (admin / "gitdir").read_text()
    _made(root, "s0001-0")
    assert spares.park(root, "s0001", 0)
    spare = root / ".expman" / "workspaces" / "s0001-spare-0"
    (spare / ".git").write_text(f"gitdir: {admin}\n")  # a stage rewrote it
    assert spares.take(root, "s0001", "s0001-1", "main", "code") is None
    assert spares.remove_all(root) == []
    assert (admin / "gitdir").read_text() == gitdir, "the other worktree's note is untouched"
    assert str(other) in git(root, "worktree", "list")
    assert json.loads(json.dumps(_spares_left(root)))  # left where it was, not moved

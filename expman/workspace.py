"""A run's own workspace: the experiment's code as a recorded code version says, its own
`outputs/`, logs and doit state, and the experiment's data seen through links.

A workspace is a git worktree of a commit in `.expman/workspaces/NAME/`, with a patch
applied (uncommitted changes, untracked files included, as `snapshot` records them). What
git ignores in the experiment (data) is linked in file by file at the same places, never
copied: a folder of data becomes real folders holding links, so the ignore rules written
for it still apply and data never enters the workspace's code version. A run writing to
a linked data file writes to the experiment's own file: data is for reading.

`rerun` runs an archived run in one; a sweep runs each point in one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

from expman import fsutil
from expman.errors import ArchiveError, UsageError
from expman.outputs import OUTPUTS
from expman.state import STATE_DIR

WORKSPACES = "workspaces"  # in `.expman/`


def check_commit(root: Path, commit: str, what: str) -> None:
    """`UsageError` unless the experiment is in a git repository holding `commit`."""
    try:
        git(root, "rev-parse", "--show-toplevel")
    except UsageError as e:
        raise UsageError(
            f"{what} ran commit {commit[:12]}, but this experiment is not in a git "
            "repository: the commit is checked out of the experiment's repository"
        ) from e
    if subprocess.run(
        ["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=root, capture_output=True
    ).returncode:
        raise UsageError(
            f"{what} ran commit {commit[:12]}, which is not in this repository any more "
            "(rewritten history, or another clone): fetch it, then try again"
        )


def create(root: Path, name: str, commit: str, patch: Path | None, archive: Path) -> Path:
    """Make the workspace `name` at `commit` with `patch` applied and the data linked;
    returns the experiment's folder inside it (the same place relative to the repository
    as the experiment's own)."""
    top = Path(git(root, "rev-parse", "--show-toplevel").strip())
    folder = root / STATE_DIR / WORKSPACES / name
    folder.parent.mkdir(parents=True, exist_ok=True)
    if folder.exists():
        remove(root, folder)  # left by a workspace that was not cleaned up
    with _worktrees_locked(root):
        git(root, "worktree", "add", "--detach", "--quiet", str(folder), commit)
    try:
        if patch is not None:
            result = subprocess.run(
                ["git", "apply", "--binary", "--whitespace=nowarn", str(patch)],
                cwd=folder,
                capture_output=True,
                text=True,
            )
            if result.returncode:
                raise ArchiveError(f"cannot apply {patch}: {result.stderr.strip()}")
        inside = folder / os.path.relpath(root, top)
        inside.mkdir(parents=True, exist_ok=True)
        _link_data(root, inside, archive)
    except BaseException:
        remove(root, folder)
        raise
    return inside


def remove(root: Path, folder: Path) -> None:
    """Remove a workspace (and git's note of its worktree)."""
    with _worktrees_locked(root):
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(folder)], cwd=root, capture_output=True
        )
    shutil.rmtree(folder, ignore_errors=True)
    # Not `git worktree prune`: it would also drop the note of a worktree that another
    # point is adding at this moment (found by a 1,000-point sweep).


def _worktrees_locked(root: Path) -> contextlib.AbstractContextManager[None]:
    """One git worktree change at a time: git removes `.git/worktrees/` with its last
    worktree, under the feet of another being added (found by a 1,000-point sweep)."""
    return fsutil.locked(root / STATE_DIR / "worktrees.lock")


def _link_data(root: Path, inside: Path, archive: Path) -> None:
    """Link what git ignores in the experiment (its data) into the workspace, at the same
    places; what git neither tracks nor ignores is code, and the patch holds it."""
    listed = subprocess.run(
        ["git", "ls-files", "--others", "--ignored", "--exclude-standard", "--directory", "-z"],
        cwd=root,
        capture_output=True,
        check=False,
    ).stdout.decode(errors="surrogateescape")
    skipped = {STATE_DIR, OUTPUTS, ".git"}
    for name in (n.rstrip("/") for n in listed.split("\0") if n):
        source, target = root / name, inside / name
        if name.split("/")[0] in skipped or target.exists() or target.is_symlink():
            continue
        if source.resolve() == archive.resolve():
            continue
        _link_tree(source.resolve(), target)


def _link_tree(source: Path, target: Path) -> None:
    """`target` shows `source`: a file as a link to it, a folder as real folders holding
    links to its files."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if not source.is_dir():
        target.symlink_to(source)
        return
    for folder, _, names in os.walk(source):
        here = target / os.path.relpath(folder, source)
        here.mkdir(parents=True, exist_ok=True)
        for name in names:
            (here / name).symlink_to(Path(folder, name))


def git(root: Path, *args: str) -> str:
    """Run git in `root`; its output, or `UsageError` with what git said."""
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if result.returncode:
        raise UsageError(f"git {args[0]}: {result.stderr.strip() or 'failed'}")
    return result.stdout

"""A run's own workspace: the experiment's code as a recorded code version says, its own
`outputs/`, logs and doit state, and the experiment's data seen through links.

A workspace is a git worktree of a commit in `.expman/workspaces/NAME/`, with a patch
applied (uncommitted changes, untracked files included, as `snapshot` records them). Of
the rest of the experiment folder it shows only the data the expfile declares (`data:`,
and the pre-run steps' `deps`) that the code version does not hold, linked at the same
places and never copied (`sharedfiles`): never a pre-run target, never what a by-hand run
left (`results/`, a target made in the experiment folder). A run writing through a link
changes the experiment's file: data is for reading, and the run's attempt fails when a
shared file changed (`Workspace.shared`).

`rerun` runs an archived run in one; a sweep runs each point in one.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from expman import fsutil
from expman.errors import ArchiveError, UsageError
from expman.expfile.model import Config
from expman.running import ending, sharedfiles
from expman.running.openrun import open_record
from expman.running.outputs import OUTPUTS
from expman.running.sharedfiles import SharedFiles
from expman.running.snapshot import CodeVersion
from expman.running.state import STATE_DIR

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


@dataclass(frozen=True)
class Workspace:
    """A workspace made for a run: where it is, and what the run there records and must
    leave as it found."""

    folder: Path  # the git worktree
    inside: Path  # the experiment's folder in it
    branch: str | None  # the branch of the code version it holds (a worktree has none)
    shared: SharedFiles = field(default_factory=SharedFiles)
    # The code version it was made from, when the maker knows it whole (a sweep's point:
    # its sweep's), so that an attempt records it without asking git: what the stages
    # and the shared data's links add to the worktree is not code.
    code: CodeVersion | None = None


def create(
    root: Path, name: str, commit: str, patch: Path | None, config: Config, branch: str | None
) -> Workspace:
    """Make the workspace `name` at `commit` with `patch` applied and the data `config`
    declares shown in it; its experiment folder is at the same place relative to the
    repository as the experiment's own."""
    made = checkout(root, name, commit, patch, branch)
    try:
        show_data(root, made.inside, config, made.shared)
    except BaseException:
        remove(root, made.folder)
        raise
    return made


def checkout(
    root: Path, name: str, commit: str, patch: Path | None, branch: str | None
) -> Workspace:
    """The workspace `name` at `commit` with `patch` applied, its data not shown yet."""
    top = toplevel(root)
    folder = root / STATE_DIR / WORKSPACES / name
    folder.parent.mkdir(parents=True, exist_ok=True)
    if folder.exists():
        remove(root, folder)  # left by a workspace that was not cleaned up
    with worktrees_locked(root):
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
        made = Workspace(folder, folder / os.path.relpath(root, top), branch)
        made.inside.mkdir(parents=True, exist_ok=True)
    except BaseException:
        remove(root, folder)
        raise
    return made


def show_data(root: Path, inside: Path, config: Config, shared: SharedFiles) -> None:
    """Link the data `config` declares into the workspace experiment folder `inside`: what
    the code version lacks there of `data:` and the pre-run steps' `deps`, never a pre-run
    target nor expman's or git's own folders."""
    archive = os.path.relpath(os.path.abspath(root / config.archive), root)  # noqa: PTH100
    kept = (STATE_DIR, OUTPUTS, ".git", Path(archive).as_posix(), *config.targets)

    def leave_out(name: str) -> bool:
        return any(fsutil.within(name, folder) for folder in kept)

    names = sharedfiles.entries(root, config.shared_patterns, leave_out)
    sharedfiles.refuse_links_over(root, names, config.targets)
    shared.show(root, inside, names)


def remove(root: Path, folder: Path, inside: Path | None = None) -> None:
    """Remove a workspace (and git's note of its worktree). A run left open in it by a
    runner that died (a sweep's point killed with its sweep) is ended first, as
    `interrupted`, with what its outputs hold: no record stays `running` for good.
    `inside` is its experiment folder, when known (else git tells where it is)."""
    if folder.is_dir():
        _end_left_run(root, folder, inside)
    with worktrees_locked(root):
        if not _forget_worktree(folder):
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(folder)],
                cwd=root,
                capture_output=True,
            )
    shutil.rmtree(folder, ignore_errors=True)
    # Not `git worktree prune`: it would also drop the note of a worktree that another
    # point is adding at this moment (found by a 1,000-point sweep).


def _forget_worktree(folder: Path) -> bool:
    """Remove git's note of the worktree `folder` (`.git/worktrees/ID/`, as `git worktree
    remove` does, without starting git); False when it has no note that is its own (then
    git is asked)."""
    note = worktree_note(folder)
    if note is None:
        return False
    shutil.rmtree(note, ignore_errors=True)
    return not note.exists()


def worktree_note(folder: Path) -> Path | None:
    """git's note of the worktree `folder` (`.git/worktrees/ID/`) when the two name each
    other, or when the note names a worktree of `.expman/workspaces/` that is gone (a
    spare's move cut short between its rename and the note's rewrite: `spares`); else
    None (a `.git` a stage rewrote names another worktree's note: never ours to touch)."""
    try:
        named = (folder / ".git").read_text(encoding="utf-8")
        note = Path(named.removeprefix("gitdir: ").rstrip("\n"))
        back = Path((note / "gitdir").read_text(encoding="utf-8").rstrip("\n"))
    except (OSError, UnicodeDecodeError):
        return None
    if not named.startswith("gitdir: ") or note.parent.name != "worktrees":
        return None
    if (folder / ".git").is_symlink():
        return None
    if back.resolve() == folder.resolve() / ".git":
        return note
    gone = not os.path.lexists(back.parent)
    if gone and back.name == ".git" and back.parent.parent.resolve() == folder.parent.resolve():
        return note  # it named this folder under the name it had in our workspaces
    return None


def _end_left_run(root: Path, folder: Path, inside: Path | None) -> None:
    """End the run a dead runner left open in the workspace `folder`, if any (`ending.close`
    repairs it first; a live runner is refused there, and the workspace kept)."""
    if inside is None:
        try:
            top = toplevel(root)
        except UsageError:
            return
        inside = folder / os.path.relpath(root, top)
    if not (inside / STATE_DIR).is_dir() or open_record(inside, include_ended=True) is None:
        return
    said = io.StringIO()  # library code: what the end would say is not printed here
    ending.close_workspace_run(inside, "", said)


def worktrees_locked(root: Path) -> contextlib.AbstractContextManager[None]:
    """One git worktree change at a time: git removes `.git/worktrees/` with its last
    worktree, under the feet of another being added (found by a 1,000-point sweep)."""
    return fsutil.locked(root / STATE_DIR / "worktrees.lock")


@functools.cache
def toplevel(root: Path) -> Path:
    """The top of the git repository holding `root` (`UsageError` when none does), asked
    of git once a process. A sweep asks before it forks its points, so that none of them
    starts git for it."""
    return Path(git(root, "rev-parse", "--show-toplevel").strip())


def git(root: Path, *args: str) -> str:
    """Run git in `root`; its output, or `UsageError` with what git said."""
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if result.returncode:
        raise UsageError(f"git {args[0]}: {result.stderr.strip() or 'failed'}")
    return result.stdout

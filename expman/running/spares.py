"""Spare workspaces: a sweep point's workspace handed on to the sweep's next point.

Making a workspace is a git checkout (three git processes, and every file of the code
written anew), then removing it again. A point run by the local backend whose run
succeeded leaves its workspace as a spare of its sweep instead (`park`), and the sweep's
next point takes it (`take`) when it is exactly as it was made: every file, folder and
link of the checkout, and git's own files of the worktree (its HEAD, its index), have
the signature they had then (`lstat`: type and mode, inode, links, size, and the
modification and change times in nanoseconds, which no write, rename or `chmod` leaves
as they were). What the run added (its `outputs/`, doit's state, the links to the data,
anything a stage wrote) is removed; anything else changed, and the spare is removed and
the point makes its workspace afresh. The signatures are taken when the workspace is
made (`note`), before the data is linked, and kept with git's own files of the worktree
(`.git/worktrees/ID/expman-signatures`): they move with it and go with git's note of it.

A workspace that a process still works in (its working folder or program there: one
the run left, that shed the run's marker) is never handed on: the process would write
into the next point's workspace. It is removed, as before spares.

A spare is taken by renaming it to the point's name, and removed by renaming it aside
first, both under the lock of the worktrees (`workspace.worktrees_locked`): one spare
goes to one point, and never while it is being removed. The sweep removes its spares
when its points are done (`remove_all`), and `expman gc` those a killed sweep left.
"""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

from expman import fsutil, processes
from expman.running import workspace
from expman.running.state import STATE_DIR
from expman.running.workspace import Workspace

SPARE = "spare"  # a spare's name: SWEEP-spare-INDEX (the index of the point that left it)
REMOVED = ".removed"  # a spare set aside to be removed: SWEEP-spare-INDEX.removed
SIGNATURES = "expman-signatures"  # in git's folder of the worktree
_GIT = "\0git/"  # signatures of git's files of the worktree, named so among the others
_OWN_GIT = ("gitdir", SIGNATURES)  # the files there that are not checked: ours, and
# git's note of where the worktree is (rewritten as it moves)

_CLOCK_WAITS = 200  # ms, at most, for the file system's clock to pass the checkout's

Signature = list[int]


def note(made: Workspace, code: str) -> None:
    """Keep the signature of everything in the new workspace `made` (and of git's files of
    its worktree), and `code`, what it was made from (a digest of the sweep's commit, patch
    and expfile), so that it can be handed on (`park`), to a point of that code (`take`)."""
    admin = workspace.worktree_note(made.folder)
    if admin is None:
        return  # no worktree git knows: it is removed, never handed on (`park`)
    found = _signatures(made.folder)
    found.update({_GIT + k: v for k, v in _signatures(admin).items() if k not in _OWN_GIT})
    kept = admin / SIGNATURES
    kept.write_bytes(json.dumps({"code": code, "entries": found}, separators=(",", ":")).encode())
    # A change within the file system clock's tick (up to 10 ms) of the checkout would
    # leave its times as they were: wait until that clock has moved past every time kept,
    # so that whatever changes from now on has a later one (git's "racy clean" entries).
    newest = max((s[5] for s in found.values() if len(s) > 2), default=0)
    for _ in range(_CLOCK_WAITS):
        if kept.stat().st_ctime_ns > newest:
            return
        time.sleep(0.001)
        os.utime(kept)
    kept.unlink()  # a clock set back meanwhile: this workspace is never handed on


def park(root: Path, sweep_id: str, index: int) -> bool:
    """Leave point `index`'s workspace as a spare of its sweep (its run has ended); False
    when it cannot be (then the caller removes it)."""
    folder = _folder(root) / f"{sweep_id}-{index}"
    spare = _folder(root) / f"{sweep_id}-{SPARE}-{index}"
    admin = workspace.worktree_note(folder)
    if admin is None or not (admin / SIGNATURES).is_file() or os.path.lexists(spare):
        return False
    if processes.working_in(folder):  # a process the run left (its marker shed) would
        return False  # write into the next point's workspace: this one is removed
    with workspace.worktrees_locked(root):
        return _renamed(folder, spare)


def take(root: Path, sweep_id: str, name: str, branch: str | None, code: str) -> Workspace | None:
    """A spare of the sweep made from `code` (see `note`), now the workspace `name` as it
    was made (what a run added removed); None when there is none that is still as it
    was made. A sweep's id is its archive's: an experiment that changed archives may hold
    another sweep's spare under the same name, of other code."""
    folder = _folder(root) / name
    for spare in _spares(root, sweep_id):
        with workspace.worktrees_locked(root):
            if os.path.lexists(folder) or not _renamed(spare, folder):
                continue  # another point took it, or left its own workspace in the way
        if _as_made(folder, code):
            top = workspace.toplevel(root)
            return Workspace(folder, folder / os.path.relpath(root, top), branch)
        workspace.remove(root, folder)
    return None


def remove_all(root: Path, sweep_id: str | None = None) -> list[str]:
    """Remove the spares of the sweep (of every sweep, by default); their names."""
    removed = []
    for spare in _spares(root, sweep_id):
        aside = spare.with_name(spare.name + REMOVED)
        with workspace.worktrees_locked(root):  # never a spare that a point is taking
            if not _renamed(spare, aside):
                continue
        workspace.remove(root, aside)
        removed.append(spare.name)
    for aside in _spares(root, sweep_id, REMOVED):  # set aside by a process that was killed
        workspace.remove(root, aside)
    return removed


def _renamed(old: Path, new: Path) -> bool:
    """Move the workspace `old` (a git worktree) to `new`, and tell git where it is now
    (as `git worktree repair` would); False when git's note of it is not its own
    (`workspace.worktree_note`), or it is gone."""
    admin = workspace.worktree_note(old)
    if admin is None:
        return False
    try:
        old.rename(new)
        fsutil.write_atomic(admin / "gitdir", f"{new.resolve()}/.git\n".encode(), sync=False)
    except OSError:
        return False
    return True


def _spares(root: Path, sweep_id: str | None, suffix: str = "") -> list[Path]:
    """The spares of the sweep (of every sweep), whose names end in `suffix`."""
    folder = _folder(root)
    try:
        names = os.listdir(folder)  # noqa: PTH208 - names only
    except OSError:
        return []
    found = []
    for name in sorted(names):
        head, _, index = name.removesuffix(suffix).rpartition(f"-{SPARE}-")
        if not name.endswith(suffix) or not index.isdigit() or head != (sweep_id or head):
            continue
        if head:
            found.append(folder / name)
    return found


def _folder(root: Path) -> Path:
    return root / STATE_DIR / workspace.WORKSPACES


def _as_made(folder: Path, code: str) -> bool:
    """Whether the workspace `folder` was made from `code` and holds what it held then,
    with what was added since removed."""
    admin = workspace.worktree_note(folder)
    if admin is None:
        return False
    try:
        kept = json.loads((admin / SIGNATURES).read_bytes())
    except (OSError, ValueError, RecursionError):
        return False
    if not isinstance(kept, dict) or kept.get("code") != code:
        return False
    kept = kept.get("entries")
    if not isinstance(kept, dict):
        return False
    try:
        top = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            seen = _clean(top, "", kept)
        finally:
            os.close(top)
        for name, signature in _signatures(admin).items():
            if name not in _OWN_GIT:
                seen += 1
                if kept.get(_GIT + name) != signature:
                    return False
    except OSError:
        return False
    return seen == len(kept)


def _clean(folder: int, below: str, kept: dict[str, object]) -> int:
    """Remove what is in the open folder `folder` (at `below` in the workspace) and not in
    `kept`; the number of entries that are, each as it was (else `_Changed`, an
    `OSError`). Every folder is opened from the one above it, never through a link (one
    put in place of a folder meanwhile makes the spare no spare): nothing outside the
    workspace is ever removed."""
    seen = 0
    with os.scandir(folder) as entries:
        for entry in entries:
            name = below + entry.name
            info = entry.stat(follow_symlinks=False)
            if name not in kept:
                _remove(folder, entry.name, info)
                continue
            if kept[name] != _signature(info):
                raise _Changed(name)
            seen += 1
            if stat.S_ISDIR(info.st_mode):
                inner = _open_folder(folder, entry.name)
                try:
                    if kept[name] != _signature(os.fstat(inner)):  # swapped meanwhile
                        raise _Changed(name)
                    seen += _clean(inner, name + "/", kept)
                finally:
                    os.close(inner)
    return seen


def _remove(folder: int, name: str, info: os.stat_result) -> None:
    """Remove the entry `name` of the open folder `folder` (a folder with all it holds,
    each one opened from the one above it, never through a link)."""
    if not stat.S_ISDIR(info.st_mode):
        os.unlink(name, dir_fd=folder)
        return
    inner = _open_folder(folder, name)
    try:
        with os.scandir(inner) as entries:
            for entry in entries:
                _remove(inner, entry.name, entry.stat(follow_symlinks=False))
    finally:
        os.close(inner)
    os.rmdir(name, dir_fd=folder)


def _open_folder(folder: int, name: str) -> int:
    """The folder `name` of the open folder `folder`, opened; `OSError` for a link."""
    return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=folder)


class _Changed(OSError):
    """A file of the workspace as it was made changed."""


def _signatures(folder: Path) -> dict[str, Signature]:
    """The signature of everything below `folder`, by its path relative to it."""
    found: dict[str, Signature] = {}
    for top, folders, files in os.walk(folder):
        below = os.path.relpath(top, folder)
        for name in (*folders, *files):
            path = name if below == "." else f"{below}/{name}"
            found[path] = _signature(os.lstat(os.path.join(top, name)))  # noqa: PTH118
    return found


def _signature(info: os.stat_result) -> Signature:
    """What a change to an entry changes: a directory's mode and inode (its entries are
    looked at one by one), anything else's mode, inode, links, size and times in ns."""
    if stat.S_ISDIR(info.st_mode):
        return [info.st_mode, info.st_ino]
    return [
        info.st_mode,
        info.st_ino,
        info.st_nlink,
        info.st_size,
        info.st_mtime_ns,
        info.st_ctime_ns,
    ]

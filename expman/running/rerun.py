"""Running an archived run again from its own snapshot, as a new run linked to it.

Its snapshot (scripts, expfile, `code.patch`) is first checked against the hashes its
record keeps (`runfiles`): a file changed since is refused, as running it would not be
running that run again. The run's workspace (`workspace`) is a fresh git worktree of the
commit the run recorded, with the run's `code.patch` applied (untracked files included),
its expfile (overrides written in) and its scripts put back; the data that expfile
declares is seen through links to the experiment's own files, as they are now, for
reading (the new run fails if it changed one), and nothing else of the experiment
folder: its pre-run steps make their own targets. The new run records the branch the
original recorded, is archived in the original's archive with `rerun_of` naming the
original, and the workspace is removed when it has ended.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, TextIO

from expman.errors import ArchiveError, UsageError
from expman.expfile import loading, location
from expman.expfile.model import Config
from expman.running import workspace
from expman.running.inworkspace import run_in_workspace
from expman.running.state import STATE_DIR
from expman.running.workspace import Workspace
from expman.store import record, runfiles
from expman.store.archive import RECORD, Archive


def rerun(
    root: Path, archive: Archive, run_id: str, streams: tuple[TextIO, TextIO]
) -> tuple[int, record.Record]:
    """Run `run_id` again; doit's exit code and the new run's record."""
    original = archive.read_valid(run_id)
    _verify(archive.run_dir(run_id), original)
    code = original.get("code") or {}
    commit = code.get("commit")
    if not commit:
        reason = code.get("error") or "it recorded no commit"
        raise UsageError(f"run {run_id} cannot be run again from its code: {reason}")
    workspace.check_commit(root, commit, f"run {run_id}")
    name = f"rerun-{record.new_uid()[:12]}"
    patch_name = code.get("patch")
    folder = archive.run_dir(run_id)
    config = _config_of(folder, run_id)
    made = workspace.create(
        root, name, commit, folder / patch_name if patch_name else None, config, code.get("branch")
    )
    try:
        _restore(folder, original, made.inside)
        return _run(made, archive, original, streams)
    finally:
        workspace.remove(root, root / STATE_DIR / workspace.WORKSPACES / name)


def _config_of(folder: Path, run_id: str) -> Config:
    """The run's own expfile (overrides written in), as it declares its data."""
    try:
        text = (folder / "expfile.yaml").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"run {run_id}: its expfile.yaml cannot be read: {e}") from e
    return loading.parse(text, f"{run_id}/expfile.yaml")


def _verify(folder: Path, original: record.Record) -> None:
    """Refuse a snapshot whose files are not what the record says they were (a damaged
    disk, a copy changed since, a hostile archive): running it would not be this run."""
    try:
        files = runfiles.snapshot(original)
    except ValueError as e:
        raise ArchiveError(f"{folder / RECORD}: damaged record: {e}") from e
    patch = (original.get("code") or {}).get("patch")
    if patch is not None and not runfiles.inside(patch):
        raise ArchiveError(f"{folder / RECORD}: damaged record: code.patch {patch!r} is no path")
    problems = runfiles.check(folder, files)
    if problems:
        listed = "\n  ".join(f"{path}: {problem}" for path, problem in problems)
        raise ArchiveError(
            f"run {folder.name} is not run again: its snapshot is not what its record says\n"
            f"  {listed}\n`expman fsck` checks every run"
        )


def _restore(folder: Path, original: record.Record, inside: Path) -> None:
    """Put the run's expfile (overrides written in) and scripts into the workspace."""
    shutil.copyfile(folder / "expfile.yaml", inside / location.EXPFILE)
    for script in original.get("scripts") or []:
        target = inside / script["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / "scripts" / script["path"], target)
        target.chmod(0o755)


def _run(
    made: Workspace, archive: Archive, original: record.Record, streams: tuple[TextIO, TextIO]
) -> tuple[int, record.Record]:
    return run_in_workspace(
        made,
        archive,
        expfile_label=f"{original['id']}/expfile.yaml",
        hypothesis=original.get("hypothesis"),
        fields={"rerun_of": {"id": original["id"], "uid": original["uid"]}},
        lock_holder="rerun",
        force=True,
        observations=f"rerun of run {original['id']}",
        streams=streams,
    )


def compare(original: record.Record, new: record.Record) -> list[str]:
    """How the new run's outputs (by hash) and metrics differ from the original's."""
    differences = []
    before = {o["path"]: o.get("sha256") or o.get("link") for o in original.get("outputs") or []}
    after = {o["path"]: o.get("sha256") or o.get("link") for o in new.get("outputs") or []}
    for path in sorted(before.keys() | after.keys()):
        if path not in after:
            differences.append(f"output {path}: missing in the new run")
        elif path not in before:
            differences.append(f"output {path}: new (the original had none)")
        elif before[path] != after[path]:
            differences.append(f"output {path}: content differs")
    differences += [
        f"metric {name}: {old} -> {value}"
        for name, old, value in _metric_pairs(original.get("metrics"), new.get("metrics"))
        if old != value
    ]
    return differences


def _metric_pairs(old: Any, new: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    if isinstance(old, dict) and isinstance(new, dict):
        pairs = []
        for key in sorted(old.keys() | new.keys(), key=str):
            name = f"{prefix}.{key}" if prefix else str(key)
            pairs += _metric_pairs(old.get(key), new.get(key), name)
        return pairs
    return [(prefix or "metrics", old, new)]

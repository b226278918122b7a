"""Running an archived run again from its own snapshot, as a new run linked to it.

The run's workspace is a fresh git worktree of the commit the run recorded, in
`.expman/workspaces/`, with the run's `code.patch` applied (untracked files included),
its expfile (overrides written in) and its scripts put back. What git does not hold
(data the repository ignores) is seen through links to the experiment's own files, as
they are now. The new run is archived in the original's archive, with `rerun_of`
naming the original; the workspace is removed when it has ended.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any, TextIO

from expman import config, ending, engine, record
from expman.archive import Archive
from expman.errors import ArchiveError, UsageError
from expman.openrun import mark_open
from expman.outputs import OUTPUTS
from expman.session import Session
from expman.state import STATE_DIR, State

WORKSPACES = "workspaces"  # in `.expman/`


def rerun(
    root: Path, archive: Archive, run_id: str, streams: tuple[TextIO, TextIO]
) -> tuple[int, record.Record]:
    """Run `run_id` again; doit's exit code and the new run's record."""
    original = archive.read_valid(run_id)
    code = original.get("code") or {}
    commit = code.get("commit")
    if not commit:
        reason = code.get("error") or "it recorded no commit"
        raise UsageError(f"run {run_id} cannot be run again from its code: {reason}")
    try:
        top = _git(root, "rev-parse", "--show-toplevel").strip()
    except UsageError as e:
        raise UsageError(
            f"run {run_id} ran commit {commit[:12]}, but this experiment is not in a git "
            "repository: rerun checks the commit out of the experiment's repository"
        ) from e
    if subprocess.run(
        ["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=root, capture_output=True
    ).returncode:
        raise UsageError(
            f"run {run_id} ran commit {commit[:12]}, which is not in this repository any more "
            "(rewritten history, or another clone): fetch it, then try again"
        )
    workspace = root / STATE_DIR / WORKSPACES / f"rerun-{uuid.uuid4().hex[:12]}"
    workspace.parent.mkdir(parents=True, exist_ok=True)
    _git(root, "worktree", "add", "--detach", "--quiet", str(workspace), commit)
    try:
        inside = workspace / os.path.relpath(root, top)
        _restore(archive.run_dir(run_id), original, workspace, inside)
        _link_data(root, inside, archive)
        return _run(inside, archive, original, streams)
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(workspace)], cwd=root, capture_output=True
        )
        shutil.rmtree(workspace, ignore_errors=True)


def _restore(folder: Path, original: record.Record, top: Path, inside: Path) -> None:
    """Put the run's patch, expfile and scripts into the fresh worktree."""
    patch = (original.get("code") or {}).get("patch")
    if patch:
        result = subprocess.run(
            ["git", "apply", "--binary", "--whitespace=nowarn", str(folder / patch)],
            cwd=top,
            capture_output=True,
            text=True,
        )
        if result.returncode:
            raise ArchiveError(f"cannot apply {folder / patch}: {result.stderr.strip()}")
    shutil.copyfile(folder / "expfile.yaml", inside / config.EXPFILE)
    for script in original.get("scripts") or []:
        target = inside / script["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / "scripts" / script["path"], target)
        target.chmod(0o755)


def _link_data(root: Path, inside: Path, archive: Archive) -> None:
    """Link what git ignores in the experiment (its data) into the workspace, at the same
    places; what git neither tracks nor ignores came after the run (its patch holds what
    was there then)."""
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
        if source.resolve() == archive.root.resolve():
            continue
        _link_tree(source.resolve(), target)


def _link_tree(source: Path, target: Path) -> None:
    """`target` shows `source`: a file as a link to it, a folder as real folders holding
    links to its files (so that the ignore rules written for a folder, `/data/`, still
    apply to it in the workspace)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if not source.is_dir():
        target.symlink_to(source)
        return
    for folder, _, names in os.walk(source):
        here = target / os.path.relpath(folder, source)
        here.mkdir(parents=True, exist_ok=True)
        for name in names:
            (here / name).symlink_to(Path(folder, name))


def _run(
    inside: Path, archive: Archive, original: record.Record, streams: tuple[TextIO, TextIO]
) -> tuple[int, record.Record]:
    path = inside / config.EXPFILE
    cfg = config.load(path, f"{original['id']}/expfile.yaml")
    cfg = dataclasses.replace(cfg, archive=str(archive.root.resolve()))
    state = State(inside)
    run = record.new(cfg, original.get("hypothesis"))
    run["rerun_of"] = {"id": original["id"], "uid": original["uid"]}
    run["start_overrides"] = {}
    with state.lock("rerun"):
        archive.create(run)
        mark_open(inside, state, archive, cfg.archive, run)
    session = Session(cfg, streams)
    session.acquire()
    try:
        code = engine.run(session, None, force=True)
    finally:
        session.release()
    _, ended = ending.close(
        inside, lambda _: f"rerun of run {original['id']}", lambda: None, streams[1]
    )
    return code, ended


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


def _git(root: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if result.returncode:
        raise UsageError(f"git {args[0]}: {result.stderr.strip() or 'failed'}")
    return result.stdout

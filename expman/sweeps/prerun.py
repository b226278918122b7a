"""Pre-run steps of a sweep: run once per distinct definition and environment, and shared
by every point that needs them (SPEC §9).

The points whose pre-run steps have the same definitions, see the same environment and
run the same code share a key. Each key has a workspace of its own that is kept
(`.expman/workspaces/prerun-KEY/`), with its own doit state, so that §5's skipping
holds there across points and sweeps. The first point of a key runs the pre-run steps
there (others wait on the key's lock); then every point of the key gets doit's state and
the steps' targets in its own workspace, linked and checked as its data is (for reading:
a point that changes one fails), where doit finds the steps up to date and skips them. A
step that failed in the shared workspace is not remembered as done and its targets are
not handed over: the point runs it itself, and its record says why it failed.

Nothing of the shared execution is a run: its logs are in `.expman/prerun/KEY/logs/`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from expman import fsutil
from expman.expfile import loading, location
from expman.expfile.model import Config
from expman.observe import series
from expman.running import engine, sharedfiles, workspace
from expman.running.session import Session
from expman.running.sharedfiles import SharedFiles
from expman.running.state import DOIT_DB, STATE_DIR, State
from expman.running.workspace import Workspace
from expman.store import record
from expman.store.archive import Archive

PRERUN = "prerun"  # in `.expman/`: a lock and the logs of each key


def key(config: Config, code: dict[str, Any], patch: bytes) -> str:
    """What decides whether two points can share pre-run steps."""
    steps = [
        {"step": s.task_name, **s.definition, "env": config.exported_env(s) | dict(s.env)}
        for s in config.steps_of("pre-run")
    ]
    text = json.dumps(
        {
            "steps": steps,
            "experiment": config.name,
            "commit": code.get("commit"),
            "patch": hashlib.sha256(patch).hexdigest(),
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def share(
    root: Path,
    archive: Archive,
    sweep_folder: Path,
    sweep: dict[str, Any],
    overrides: list[str],
    made: Workspace,
) -> None:
    """Make the pre-run steps of the point whose workspace is `made` up to date there:
    run them once for its key (unless done), then hand over doit's state and the targets
    of the steps that are done (shared for reading, as data is)."""
    inside = made.inside
    config = loading.load(inside / location.EXPFILE, "expfile.yaml", overrides, cache=State(root))
    if not config.steps_of("pre-run"):
        return
    patch_path = sweep_folder / "code.patch"
    patch = patch_path.read_bytes() if patch_path.exists() else b""
    name = key(config, sweep["code"], patch)
    with fsutil.locked(root / STATE_DIR / PRERUN / f"{name}.lock"):
        shared = _workspace(root, config, sweep, sweep_folder, name)
        shared_cfg = loading.load(
            shared / location.EXPFILE, "expfile.yaml", overrides, cache=State(root)
        )
        shared_cfg = dataclasses.replace(shared_cfg, archive=str(archive.root.resolve()))
        session = Unrecorded(shared_cfg, root / STATE_DIR / PRERUN / name)
        session.acquire()
        try:
            engine.run(session, "pre-run", force=False)
        finally:
            session.release()
        (inside / STATE_DIR).mkdir(exist_ok=True)
        shutil.copyfile(shared / DOIT_DB, inside / DOIT_DB)
        targets = sharedfiles.entries(shared, _done_targets(session), lambda _: False)
        made.shared.show(shared, inside, targets)


def _done_targets(session: Unrecorded) -> list[str]:
    """The targets of the steps that ran or were up to date: a failed step's are not
    handed over (the point runs that step itself)."""
    done = {
        s["name"]
        for s in (session.record.get("stages", []) if session.record else [])
        if s["status"] in (record.RAN, record.SKIPPED)
    }
    steps = session.config.steps_of("pre-run")
    return [target for s in steps if s.task_name in done for target in s.targets]


def _workspace(root: Path, config: Config, sweep: dict[str, Any], folder: Path, name: str) -> Path:
    """The key's kept workspace: made the first time, with the data `config` declares shown
    again each time (new data files are seen)."""
    found = root / STATE_DIR / workspace.WORKSPACES / f"prerun-{name}"
    marker = found / ".expman-ready"
    if not marker.exists():
        patch = folder / "code.patch"
        code = sweep["code"]
        inside = workspace.create(
            root,
            f"prerun-{name}",
            code["commit"],
            patch if patch.exists() else None,
            config,
            code.get("branch"),
        ).inside
        shutil.copyfile(folder / "expfile.yaml", inside / location.EXPFILE)
        marker.write_text(os.path.relpath(inside, found) + "\n")
        return inside
    inside = found / marker.read_text().strip()
    workspace.show_data(root, inside, config, SharedFiles())
    return inside


class _Logs(Archive):
    """Where an unrecorded execution keeps its logs: a folder, and no record."""

    def run_dir(self, run_id: str) -> Path:
        return self.root

    def write(self, data: record.Record, durable: bool = True) -> None:
        pass  # no record: nothing of a shared pre-run execution is a run


class Unrecorded(Session):
    """Runs steps as a session does (environment, logs, process groups, Ctrl-C), for
    doit's skipping, without opening a run: logs go to `folder/logs/`."""

    def __init__(self, config: Config, folder: Path) -> None:
        super().__init__(config, (sys.stderr, sys.stderr))
        self.archive = _Logs(folder)

    def _begin(self) -> None:
        self.acquire()
        (self.archive.root / "logs").mkdir(parents=True, exist_ok=True)
        series.begin(self.archive.root)  # `$EXPMAN_METRICS` can be written (and is not read)
        uid = record.new_uid()
        self.record = {
            "id": "pre-run",
            "uid": uid,
            "status": record.RUNNING,
            "attempts": [{"stages": []}],
            "stages": [],
        }

    def finish(self) -> None:
        try:
            if self.record is not None:
                steps = self.record["stages"]
                if any(s["status"] == record.STEP_RUNNING for s in steps):
                    self.interrupted = True
        finally:
            self.release()

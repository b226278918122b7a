"""One point of a sweep, run as its own process wherever a backend starts it:

    python -m expman _point EXPERIMENT ARCHIVE SWEEP INDEX [RETRIES]   (`expman.entries`)

It claims the point (exit 75 when another live process holds it), makes the point's
workspace (the sweep's code and expfile, and the data that expfile declares, linked),
runs the stages there as an ordinary run of the archive whose record carries
`sweep: {id, index, point}` and the sweep's branch, retries a failed run as new attempts
of the same run, ends the run (archived like any other), and releases the claim. The
workspace is removed unless the run failed (then it stays for a look, until the sweep is
resumed); a point of the local backend takes a spare of the sweep's instead of making
one, when there is one as it was made, and leaves its own as one when its run succeeded
(`running/spares`). Exit: 0 succeeded, 1 failed, 130 interrupted, 2 bad input, 75
claimed by another (or done by another since it was planned).
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

from expman import entries
from expman.expfile import loading, location
from expman.output import write_error
from expman.processes import signals_held, sigterm_as_interrupt
from expman.running import spares, workspace
from expman.running.inworkspace import run_in_workspace
from expman.running.snapshot import CodeVersion
from expman.running.state import STATE_DIR, State
from expman.running.workspace import Workspace
from expman.store import record
from expman.store.archive import Archive
from expman.sweeps import prerun
from expman.sweeps.backend import CLAIMED
from expman.sweeps.plan import Point
from expman.sweeps.store import TRIAL_TAG, Sweeps

PRUNED = "pruned"  # a search's trial the pruner stopped (its run: `sweep.pruned`)


def run_point(
    root: Path,
    archive: Archive,
    sweep_id: str,
    index: int,
    retries: int,
    unstarted: bool = False,
    spare: bool = False,
) -> int:
    """Run point `index` of the sweep; the exit code (see the module's words). With
    `unstarted`, only a point that no process has opened a run for. With `spare`, the
    point takes a spare workspace of the sweep when there is one, and leaves its own as
    one when its run succeeded (`spares`: the local backend, which removes them at the
    sweep's end)."""
    sweeps = Sweeps(archive)
    sweep = sweeps.read(sweep_id)
    point = sweeps.point(sweep_id, index)
    claims = sweeps.claims(sweep_id)
    if not claims.take(index):
        return CLAIMED
    result = sweeps.result(sweep_id, index)
    done = (result or {}).get("status") in (record.SUCCEEDED, PRUNED)
    if done or (unstarted and result is not None):
        claims.release(index)  # done by another process since this one was planned
        return CLAIMED
    name = f"{sweep_id}-{index}"
    folder = sweeps.folder(sweep_id)
    status = record.INTERRUPTED
    made: Workspace | None = None
    try:
        made = _make_workspace(root, folder, sweep, name, spare)
        prerun.share(root, archive, folder, sweep, _overrides(point), made)
        status = _run(root, made, archive, sweep, point, index, retries)
    finally:
        with signals_held():  # a stop now must not leave half a workspace
            try:
                parked = spare and status == record.SUCCEEDED and spares.park(root, sweep_id, index)
                if status != record.FAILED and not parked:
                    inside = None if made is None else made.inside
                    workspace.remove(root, root / STATE_DIR / workspace.WORKSPACES / name, inside)
            finally:  # only then: the next holder makes the workspace afresh
                claims.release(index)
    return {record.SUCCEEDED: 0, PRUNED: 0, record.FAILED: 1}.get(status, 130)


def _make_workspace(
    root: Path, folder: Path, sweep: dict[str, Any], name: str, spare: bool = False
) -> Workspace:
    """A workspace of the sweep's code (commit and patch), its expfile and the data that
    expfile declares, recording the branch the sweep started from: a spare of the
    sweep's, with `spare`, when there is one still as it was made."""
    expfile = folder / location.EXPFILE
    config = loading.parse(expfile.read_text(encoding="utf-8"), location.EXPFILE, cache=State(root))
    patch = folder / "code.patch"
    code = sweep["code"]
    made = None
    if spare:  # what the workspace is made from: no spare of other code will do
        made_from = _made_from(code["commit"], patch, expfile)
        made = spares.take(root, sweep["id"], name, code.get("branch"), made_from)
    if made is None:
        made = workspace.checkout(
            root, name, code["commit"], patch if patch.exists() else None, code.get("branch")
        )
        shutil.copyfile(expfile, made.inside / location.EXPFILE)
        if spare:
            spares.note(made, made_from)
    try:
        workspace.show_data(root, made.inside, config, made.shared)
    except BaseException:
        workspace.remove(root, made.folder)
        raise
    return dataclasses.replace(made, code=_code_version(code, patch))


def _made_from(commit: str, patch: Path, expfile: Path) -> str:
    """A digest of what a point's workspace is made from: the commit, the patch and the
    expfile."""
    digest = hashlib.sha256(commit.encode())
    for part in (patch, expfile):
        digest.update(b"\0" + (part.read_bytes() if part.exists() else b"-"))
    return digest.hexdigest()


def _code_version(code: dict[str, Any], patch: Path) -> CodeVersion:
    """The sweep's code version, which its points' workspaces are made from: what each
    point records without a `git status` of its own."""
    return CodeVersion(
        commit=code["commit"],
        branch=code.get("branch"),
        dirty=bool(code.get("dirty")),
        patch=patch.read_bytes() if patch.exists() else b"",  # as the workspace has it
        omitted=list(code.get("omitted") or []),
        error=code.get("error"),
    )


def _run(
    root: Path,
    made: Workspace,
    archive: Archive,
    sweep: dict[str, Any],
    point: Point,
    index: int,
    retries: int,
) -> str:
    """Run the point in its workspace as a run of the archive; the ended run's status."""
    sweep_field: record.Sweep = {"id": sweep["id"], "index": index, "point": point.hash}
    fields: record.Given = {"sweep": sweep_field, "start_overrides": dict(point.vars)}
    if point.origin is not None:  # an adaptive search's trial: its sampler and seed
        sweep_field["trial"] = {k: point.origin.get(k) for k in ("sampler", "seed")}
    if "CUDA_VISIBLE_DEVICES" in os.environ:  # the GPU slots the backend gave this point
        sweep_field["gpus"] = os.environ["CUDA_VISIBLE_DEVICES"]
    sweeps = Sweeps(archive)
    watcher = _watcher(archive, sweep, point)

    def note_running(run: record.Record) -> None:
        note = {"run": run["id"], "status": record.RUNNING}
        sweeps.note_result(sweep["id"], index, note, durable=False)
        if point.origin is not None:  # `expman tag N -trial` takes it out of the search
            archive.annotate(run["id"], {"add": [TRIAL_TAG]})
        if watcher is not None:
            watcher.start(run["id"])

    def mark_pruned(run: record.Record) -> None:  # in the one synced write that ends it
        if watcher is not None:
            watcher.finish()
            # Only a run the pruner's stop ended is pruned: a stage that died first (a kill,
            # a crash) made it failed, whatever the pruner decided as it died.
            if watcher.pruned is not None and run["status"] == record.INTERRUPTED:
                run["sweep"] = {**run["sweep"], "pruned": watcher.pruned}

    def note_ended(run: record.Record) -> None:  # the ended record is synced: the truth
        if watcher is not None:
            watcher.finish()  # when an earlier process had ended the run (no-op after)
        sweeps.note_result(sweep["id"], index, _result(run), durable=False)

    try:
        _, run = run_in_workspace(
            made,
            archive,
            expfile_label=location.EXPFILE,
            overrides=_overrides(point),
            cache=State(root),
            hypothesis=sweep.get("hypothesis"),
            fields=fields,
            lock_holder="sweep",
            force=False,
            retries=retries,
            streams=(sys.stdout, sys.stderr),
            on_opened=note_running,
            on_ending=mark_pruned,
            on_ended=note_ended,
        )
    except KeyboardInterrupt:
        if watcher is None or watcher.pruned is None:
            raise
        return PRUNED  # stopped by its pruner: a finished trial
    return str(run["status"])


def _watcher(archive: Archive, sweep: dict[str, Any], point: Point) -> Any:
    """The pruner's watcher of a search's trial, when the search prunes (else None)."""
    from expman.sweeps import search_definition  # only a search's trial needs it

    found = search_definition.stored(sweep["definition"])
    if found is None or found.prune is None:
        return None
    from expman.sweeps.prune import Watcher

    return Watcher(archive, sweep["id"], point, found.prune)


def _overrides(point: Point) -> list[str]:
    """The point's values as `-s` items."""
    return [f"{name}={json.dumps(value)}" for name, value in point.vars.items()]


def _result(ended: record.Record) -> dict[str, Any]:
    """What the sweep notes of a point's ended run: the run, its status, and that it
    changed shared data (the sweep says so as the point ends)."""
    pruned = isinstance(ended.get("sweep", {}).get("pruned"), dict)
    result = {"run": ended["id"], "status": PRUNED if pruned else ended["status"]}
    last = ended["attempts"][-1] if ended["attempts"] else {}
    if last.get("data_changed"):
        result["reason"] = last["reason"]
    return result


def remove_stale_workspaces(root: Path, archive: Archive) -> list[str]:
    """Remove the workspaces of points that no live process runs (those kept after a
    failure, or left by a kill); their names."""
    folder = root / STATE_DIR / workspace.WORKSPACES
    sweeps = Sweeps(archive)
    removed = []
    for entry in sorted(folder.glob("s[0-9]*-[0-9]*")) if folder.is_dir() else []:
        sweep_id, _, index = entry.name.partition("-")
        if not index.isdigit() or sweep_id not in sweeps.ids():
            continue
        held = dict(sweeps.claims(sweep_id).held())
        if int(index) in held:
            continue
        workspace.remove(root, entry)
        removed.append(entry.name)
    return removed + spares.remove_all(root)


def main(argv: list[str], spare: bool = False) -> int:
    """The process's entry point; the exit code. `spare`: see `run_point`."""
    sigterm_as_interrupt()  # for good: the process ends with the point
    try:
        argv = entries.arguments(entries.POINT, argv, numbers=(3, 4))
        root, archive, sweep_id, index = Path(argv[0]), Path(argv[1]), argv[2], int(argv[3])
        retries = int(argv[4]) if len(argv) > 4 else 0
        return run_point(root, Archive(archive), sweep_id, index, retries, spare=spare)
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # said as cli says it (escaped), in the point's log
        return write_error(sys.stderr, e, f"expman: point {argv[3] if len(argv) > 3 else '?'}")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

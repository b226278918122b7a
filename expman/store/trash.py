"""Removing runs: `expman rm` moves a run folder aside, `--restore` brings it back, and
`--purge` deletes it for good (then `expman gc` can free what only it used).

A removed run is `<archive>/.trash/<id>-<uid>/`, moved there in one rename: it is never
half removed, its files keep their store objects alive until it is purged, and its id is
never given to another run, so restoring it puts it back where it was.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from expman.errors import ArchiveError, UsageError
from expman.store import nextid
from expman.store.archive import RECORD, TRASH_DIR, Archive, is_uid, read_record
from expman.store.record import Record


def remove(archive: Archive, run_id: str) -> Path:
    """Move the run aside; the open run and runs in flight are refused."""
    run = archive.read(run_id)  # its uid checked: it names the folder in .trash/
    if run.get("ended") is None:
        state = run.get("status")
        raise UsageError(f"run {run_id} is open ({state}): `expman end` it first, then remove it")
    folder = archive.root / TRASH_DIR
    folder.mkdir(exist_ok=True)
    uid = run.get("uid")
    target = folder / (f"{run_id}-{uid}" if is_uid(uid) else run_id)
    with nextid.locked(archive.root):  # never while an id is being chosen and taken
        archive.run_dir(run_id).rename(target)
    return target


def removed(archive: Archive) -> list[dict[str, Any]]:
    """The removed runs: `{id, uid, path, record}`, by id."""
    found = []
    for name in archive.removed_folders():
        run_id, _, uid = name.partition("-")
        path = archive.root / TRASH_DIR / name
        data: dict[str, Any] | Record
        try:
            data = record_of(path)
        except ArchiveError:
            data = {}
        found.append({"id": run_id, "uid": uid, "path": path, "record": data})
    return found


def record_of(path: Path) -> Record:
    """The record in a run folder."""
    try:
        return read_record(path / RECORD)
    except ValueError as e:
        raise ArchiveError(str(e)) from e


def restore(archive: Archive, run_id: str) -> None:
    """Put a removed run back under its own id."""
    found = [r for r in removed(archive) if r["id"] == f"{int(run_id):04d}"]
    if not found:
        raise UsageError(f"run {run_id} is not among the removed runs (`expman rm --list`)")
    entry = found[-1]
    try:
        with nextid.locked(archive.root):  # as `remove`
            entry["path"].rename(archive.run_dir(entry["id"]))
    except OSError as e:
        raise ArchiveError(f"cannot restore run {entry['id']}: {e.strerror or e}") from e


def purge(archive: Archive, run_ids: list[str] | None) -> list[str]:
    """Delete removed runs for good (all of them, or those named); their ids."""
    wanted = None if run_ids is None else {f"{int(i):04d}" for i in run_ids}
    purged = []
    for entry in removed(archive):
        if wanted is None or entry["id"] in wanted:
            archive.note_purged(entry["id"])
            _delete(entry["path"])
            purged.append(entry["id"])
    if wanted is not None and wanted - set(purged):
        missing = ", ".join(sorted(wanted - set(purged)))
        raise UsageError(f"not among the removed runs: {missing} (`expman rm --list`)")
    return purged


def _delete(path: Path) -> None:
    """Delete a removed run folder: first out of `.trash/` under a name no listing reads,
    so that a purge cut short leaves no half run among the removed ones."""
    doomed = path.with_name(f".purging-{path.name}")
    path.rename(doomed)
    shutil.rmtree(doomed)

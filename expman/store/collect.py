"""Keeping the store true and small: `expman gc` frees what no kept run uses, `expman fsck`
re-hashes every object and checks every run's files against its record.

An object is used by a run when a run folder links to it: its link count says so (run
folders hold hard links). An object whose link count is 1 is in no run folder, kept or
removed-but-not-purged; where the file system cannot link, run folders hold copies and
need no object at all. So `gc` frees exactly the objects with one link, holding the
store's exclusive lock, which every archiving command holds shared while it adds and
links objects: an object about to be linked is never freed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expman.store import objects, runfiles
from expman.store.archive import RECORD, Archive, Damaged
from expman.store.trash import removed

QUARANTINE = ".quarantine"


@dataclass
class Freed:
    """What `gc` freed."""

    objects: int = 0
    size: int = 0
    partial: int = 0  # temporary files of killed writers


def gc(archive: Archive) -> Freed:
    """Free the store objects that no run folder (kept or removed) links to."""
    store = archive.objects
    freed = Freed()
    archive.remove_abandoned_stagings()  # their links would keep objects alive
    with store.collecting():
        freed.partial = store.remove_abandoned()
        for path in store.paths():
            info = path.lstat()
            if info.st_nlink == 1:
                path.chmod(0o644)  # some file systems refuse to unlink read-only files
                path.unlink()
                freed.objects += 1
                freed.size += info.st_size
    return freed


@dataclass
class Report:
    """What `fsck` found."""

    objects: int = 0
    corrupt: list[Path] = field(default_factory=list)
    quarantined: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # "RUN: path" of files a run lacks
    wrong: list[str] = field(default_factory=list)  # "RUN: path: what is wrong" of the others
    damaged: list[Damaged] = field(default_factory=list)
    shared_uids: list[str] = field(default_factory=list)  # "runs A and B both hold UID"

    @property
    def clean(self) -> bool:
        """Nothing wrong."""
        return not (self.corrupt or self.missing or self.wrong or self.damaged or self.shared_uids)


def fsck(archive: Archive, repair: bool) -> Report:
    """Re-hash every object; check every run's files against the hashes its record names
    (`runfiles`). With `repair`, objects whose content does not match their name go to
    `.quarantine/` (the run files linked to them are still reported)."""
    store = archive.objects
    report = Report()
    verified: dict[tuple[int, int], str] = {}  # (device, inode) -> name of a true object
    for path in store.paths():
        report.objects += 1
        digest = path.parent.name + path.name
        try:
            with os.fdopen(objects.open_regular(str(path), os.O_NOFOLLOW), "rb") as f:
                info = os.fstat(f.fileno())
                true = objects.hash_open(f) == digest
        except OSError:
            true = False  # a link or a pipe in the store: no object
        if true:
            verified[info.st_dev, info.st_ino] = digest
        else:
            report.corrupt.append(path)
    if repair and report.corrupt:
        folder = store.root / QUARANTINE
        folder.mkdir(exist_ok=True)
        for path in report.corrupt:
            target = folder / (path.parent.name + path.name)
            shutil.move(str(path), target)
            report.quarantined.append(target)

    def known(info: os.stat_result) -> str | None:
        return verified.get((info.st_dev, info.st_ino))

    holders: dict[str, list[str]] = {}  # uid -> the runs holding it, removed ones too
    for data in archive.records():
        if isinstance(data, Damaged):
            report.damaged.append(data)
        else:
            _check(archive.run_dir(data["id"]), data, known, report)
            if isinstance(data.get("uid"), str):
                holders.setdefault(data["uid"], []).append(data["id"])
    for entry in removed(archive):
        _check(entry["path"], entry["record"], known, report)
        holders.setdefault(entry["uid"], []).append(f"{entry['id']} (removed)")
    report.shared_uids = [
        f"runs {' and '.join(ids)} both hold {uid}" for uid, ids in holders.items() if len(ids) > 1
    ]
    return report


def _check(folder: Path, data: Mapping[str, Any], known: runfiles.Known, report: Report) -> None:
    """Add what is wrong with one run's files to `report`."""
    try:
        files = runfiles.named(data)
    except ValueError as e:
        report.damaged.append(
            Damaged(folder.name, folder, f"{folder / RECORD}: damaged record: {e}")
        )
        return
    for relative, problem in runfiles.check(folder, files, known):
        if problem == runfiles.MISSING:
            report.missing.append(f"{folder.name}: {relative}")
        else:
            report.wrong.append(f"{folder.name}: {relative}: {problem}")

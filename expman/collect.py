"""Keeping the store true and small: `expman gc` frees what no kept run uses, `expman fsck`
re-hashes every object and checks every run's files.

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
from dataclasses import dataclass, field
from pathlib import Path

from expman import objects
from expman.archive import Archive, Damaged
from expman.trash import removed

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
    damaged: list[Damaged] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """Nothing wrong."""
        return not (self.corrupt or self.missing or self.damaged)


def fsck(archive: Archive, repair: bool) -> Report:
    """Re-hash every object; check that every run has the files its record names. With
    `repair`, objects whose content does not match their name go to `.quarantine/`."""
    store = archive.objects
    report = Report()
    for path in store.paths():
        report.objects += 1
        if objects.hash_file(path) != path.parent.name + path.name:
            report.corrupt.append(path)
    if repair and report.corrupt:
        folder = store.root / QUARANTINE
        folder.mkdir(exist_ok=True)
        for path in report.corrupt:
            target = folder / (path.parent.name + path.name)
            shutil.move(str(path), target)
            report.quarantined.append(target)
    for data in archive.records():
        if isinstance(data, Damaged):
            report.damaged.append(data)
            continue
        report.missing += _missing(archive.run_dir(str(data.get("id"))), data)
    for entry in removed(archive):
        report.missing += _missing(entry["path"], entry["record"])
    return report


def _missing(folder: Path, data: dict[str, object]) -> list[str]:
    """Files the record names that the run folder lacks (or holds with another size)."""
    lacking = []
    named: list[tuple[str, object]] = []
    for output in data.get("outputs") or []:  # type: ignore[attr-defined]
        if isinstance(output, dict) and output.get("sha256"):
            named.append((f"outputs/{output.get('path')}", output.get("size")))
    for script in data.get("scripts") or []:  # type: ignore[attr-defined]
        if isinstance(script, dict):
            named.append((f"scripts/{script.get('path')}", script.get("size")))
    for relative, size in named:
        path = folder / relative
        try:
            ok = os.stat(path).st_size == size  # noqa: PTH116
        except OSError:
            ok = False
        if not ok:
            lacking.append(f"{folder.name}: {relative}")
    return lacking

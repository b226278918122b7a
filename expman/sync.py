"""Sharing archives: `expman push DEST` and `expman pull SRC` copy runs from one archive
folder to another (a shared file system, a disk, an rsync'd copy).

Runs are matched by `uid`, never by their short ids: each archive gives an arriving run
the next id of its own, and the record keeps where it came from (`origin`: the source
archive's own uid, the host the run ran on, its id there). A run is copied in a staging
folder of the destination: its objects first (each hashed as it is copied, so a damaged
source object is refused), then its files as links to them, and the record last; the
folder becomes a run in one rename. An interrupted transfer leaves no run that points at
missing files, and running it again copies what is still missing and nothing twice.
Notes and tags added on either side travel too: annotation files are copied where they
are missing, and the record is derived again. Open runs are left out until they end.
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

from expman import annotation, index
from expman.archive import RECORD, Archive, Damaged, read_record
from expman.errors import ArchiveError


@dataclass
class Transfer:
    """What a push or pull did."""

    copied: list[str] = field(default_factory=list)  # new ids in the destination
    annotated: list[str] = field(default_factory=list)  # runs whose notes or tags grew
    open_left: int = 0
    damaged: list[Damaged] = field(default_factory=list)
    bytes_copied: int = 0


def transfer(source: Archive, destination: Archive) -> Transfer:
    """Copy the ended runs of `source` that `destination` lacks (by uid), and the notes and
    tags it lacks of the runs both have."""
    if source.root.resolve() == destination.root.resolve():
        raise ArchiveError(f"{source.root} is the archive itself")
    done = Transfer()
    theirs = _uids(destination)
    inodes: dict[int, str] | None = None
    destination.remove_abandoned_stagings()
    runs, done.damaged = index.load(source, {"uid", "ended"})
    for run in runs:
        uid = run.get("uid")
        if not isinstance(uid, str):
            continue
        if run.get("ended") is None:
            done.open_left += 1
        elif uid in theirs:
            if _merge_annotations(source.run_dir(run["id"]), destination, theirs[uid]):
                done.annotated.append(theirs[uid])
        else:
            if inodes is None:  # only when something is to be copied
                inodes = {
                    path.stat().st_ino: path.parent.name + path.name
                    for path in source.objects.paths()
                }
            new_id, size = _copy_run(source, run["id"], destination, inodes)
            theirs[uid] = new_id
            done.copied.append(new_id)
            done.bytes_copied += size
    return done


def _uids(archive: Archive) -> dict[str, str]:
    """uid -> id of every run of the archive, removed ones too (they are not missing)."""
    runs, _ = index.load(archive, {"uid"})
    found = {r["uid"]: r["id"] for r in runs if isinstance(r.get("uid"), str)}
    for name in archive.removed_folders():
        run_id, _, uid = name.partition("-")
        found.setdefault(uid, run_id)
    return found


def _copy_run(
    source: Archive, run_id: str, destination: Archive, inodes: dict[int, str]
) -> tuple[str, int]:
    """Copy one run; its new id and the bytes of objects copied."""
    folder = source.run_dir(run_id)
    record = read_record(folder / RECORD)
    staging = destination.staging()
    copied = 0
    try:
        with destination.objects.writing():
            for path in _files(folder):
                relative = path.relative_to(folder)
                target = staging / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                info = path.lstat()
                if stat.S_ISLNK(info.st_mode):
                    target.symlink_to(os.readlink(path))  # noqa: PTH115
                elif relative.as_posix() == RECORD:
                    continue  # written last, by `publish`
                elif info.st_ino in inodes:
                    copied += _copy_object(destination, path, inodes[info.st_ino], target)
                else:  # annotations, or a copy where the source could not link
                    shutil.copy2(path, target)
            record["origin"] = record.get("origin") or {
                "archive": source.identity(),
                "host": (record.get("host") or {}).get("name"),
                "id": run_id,
            }
            new_id = destination.publish(staging, record)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return new_id, copied


def _copy_object(destination: Archive, path: Path, digest: str, target: Path) -> int:
    """Make `target` the object `digest`, copying it into the store if missing."""
    store = destination.objects
    size = 0
    if not store.path(digest).exists():
        stored = store.add_file(path, digest)
        if stored != digest:
            store.path(stored).unlink(missing_ok=True)
            raise ArchiveError(
                f"{path}: its content does not match its object ({digest[:12]}…): "
                "run `expman fsck` on the source archive"
            )
        size = store.path(digest).stat().st_size
    store.link(digest, target)
    return size


def _files(folder: Path) -> list[Path]:
    found = []
    for directory, dirs, names in os.walk(folder):
        dirs.sort()
        links = [d for d in dirs if Path(directory, d).is_symlink()]
        found += [Path(directory, name) for name in sorted(names + links)]
    return found


def _merge_annotations(folder: Path, destination: Archive, their_id: str) -> bool:
    """Copy the annotation files `destination`'s run lacks; True when there were any."""
    mine = folder / annotation.FOLDER
    if not mine.is_dir() or not destination.run_dir(their_id).is_dir():
        return False
    theirs = destination.run_dir(their_id) / annotation.FOLDER
    missing = [p for p in sorted(mine.iterdir()) if not (theirs / p.name).exists()]
    if not missing:
        return False
    theirs.mkdir(exist_ok=True)
    for path in missing:
        shutil.copy2(path, theirs / path.name)
    destination.refresh(their_id)
    return True


def describe(done: Transfer, verb: str) -> str:
    """One line saying what a transfer did."""
    text = f"{verb} {len(done.copied)} run(s), {done.bytes_copied / 1e6:.1f} MB of new content"
    if done.annotated:
        text += f"; notes or tags of {len(done.annotated)} run(s)"
    if done.open_left:
        text += f"; {done.open_left} open run(s) left until they end"
    return text

"""Sharing archives: `expman push DEST` and `expman pull SRC` copy runs from one archive
folder to another (a shared file system, a disk, an rsync'd copy).

Runs are matched by `uid`, never by their short ids: each archive gives an arriving run
the next id of its own, and the record keeps where it came from (`origin`: the source
archive's own uid, the host the run ran on, its id there). A run is copied in a staging
folder of the destination: its files first, then the record; the folder becomes a run in
one rename. An interrupted transfer leaves no run that points at missing files, and
running it again copies what is still missing and nothing twice. Notes and tags added on
either side travel too: annotation files are copied where they are missing, and the
record is derived again. Open runs are left out until they end. Transfers into one
archive take turns (`_LOCK`): two at once would copy one run twice.

The other archive is untrusted input. A run's id is its folder's name and its uid a uid
(`archive.identity_problem`), or its record is damaged. A run arrives only as its record
describes it (`runfiles`): each file it names is hashed as it is copied and must match
(any other store object is checked against its name), every file it names must be there,
and a link is kept, as an inert link, only where the record names an output archived as
that very link; any other link, a pipe or a device refuses the run. Annotations are
merged only as regular files, read and written without following a link on either side.
A run that is damaged or refused, or whose uid the other side holds with other content,
is said and left as it is on both sides; every other run still arrives.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expman import fsutil, jsontext
from expman.errors import ArchiveError
from expman.store import annotation, index, runfiles
from expman.store.archive import RECORD, Archive, Damaged, read_record
from expman.store.objects import STORE_LOCK, ObjectStore, open_folder, open_regular
from expman.store.record import Record
from expman.store.storing import escape_name

_LOCK = ".transfer.lock"
# What a run recorded, which no transfer changes: one uid with other values here is two runs.
_CONTENT = (
    "experiment",
    "status",
    "started",
    "ended",
    "code",
    "vars",
    "metrics",
    "scripts",
    "snapshot",
    "outputs",
)


class Refused(Exception):
    """A run that cannot arrive (or whose notes cannot) as it is: the message says why."""


@dataclass
class Transfer:
    """What a push or pull did."""

    copied: list[str] = field(default_factory=list)  # new ids in the destination
    annotated: list[str] = field(default_factory=list)  # runs whose notes or tags grew
    open_left: int = 0
    damaged: list[Damaged] = field(default_factory=list)  # the destination's: skipped
    refused: list[str] = field(default_factory=list)  # why runs of the source did not arrive
    bytes_copied: int = 0


def transfer(source: Archive, destination: Archive) -> Transfer:
    """Copy the ended runs of `source` that `destination` lacks (by uid), and the notes and
    tags it lacks of the runs both have."""
    if source.root.resolve() == destination.root.resolve():
        raise ArchiveError(f"{source.root} is the archive itself")
    for archive in (source, destination):
        _refuse_links(archive)
    done = Transfer()
    with fsutil.locked(destination.root / _LOCK):
        destination.remove_abandoned_stagings()
        theirs = _theirs(destination, done)
        runs, damaged = index.load(source, {"uid", *_CONTENT})
        done.refused += [bad.reason for bad in damaged]
        inodes: dict[int, str] | None = None
        for run in runs:
            uid = run.get("uid")  # a uid when it is a string (`read_record` checked it)
            if not isinstance(uid, str):
                done.refused.append(f"{source.run_dir(run['id']) / RECORD}: it has no uid")
            elif run.get("ended") is None:
                done.open_left += 1
            elif uid in theirs:
                _merge(source, run, destination, theirs[uid], done)
            else:
                if inodes is None:  # only when something is to be copied
                    inodes = _object_inodes(source)
                try:
                    new_id, size = _copy_run(source, run["id"], destination, inodes)
                except Refused as e:
                    done.refused.append(f"{source.run_dir(run['id'])}: not copied: {e}")
                    continue
                theirs[uid] = (new_id, run)
                done.copied.append(new_id)
                done.bytes_copied += size
    return done


def _refuse_links(archive: Archive) -> None:
    """`ArchiveError` when one of the archive's own files or folders (its store, a folder
    of the store, its locks) is a link: a transfer would read or write where it points,
    outside the archives it was given."""
    store = archive.objects.root
    own = [store, store / STORE_LOCK, archive.root / _LOCK]
    with contextlib.suppress(OSError):
        if not store.is_symlink():
            own += list(store.iterdir())
    for path in own:
        if path.is_symlink():
            raise ArchiveError(
                f"{path} is a link: an archive's own files are never followed (nothing copied)"
            )


def _theirs(destination: Archive, done: Transfer) -> dict[str, tuple[str, Any]]:
    """uid -> (id, what the run recorded) of every run of the archive; removed ones too
    (they are not missing), whose record is not read (None)."""
    runs, done.damaged = index.load(destination, {"uid", *_CONTENT})
    found: dict[str, tuple[str, Any]] = {
        r["uid"]: (r["id"], r) for r in runs if isinstance(r.get("uid"), str)
    }
    for name in destination.removed_folders():
        run_id, _, uid = name.partition("-")
        found.setdefault(uid, (run_id, None))
    return found


def _merge(
    source: Archive, run: Any, destination: Archive, theirs: tuple[str, Any], done: Transfer
) -> None:
    """Bring the notes of a run both archives hold; two runs under one uid are said."""
    their_id, their_run = theirs
    mine = source.run_dir(run["id"])
    differ = [] if their_run is None else [f for f in _CONTENT if run.get(f) != their_run.get(f)]
    if differ:
        done.refused.append(
            f"{mine} and {destination.run_dir(their_id)} hold one uid, {run['uid']}, but "
            f"differ ({', '.join(differ)}): neither is changed"
        )
        return
    try:
        if _merge_annotations(mine, destination, their_id):
            done.annotated.append(their_id)
    except Refused as e:
        done.refused.append(f"{mine}: its notes and tags are not merged: {e}")


def _object_inodes(source: Archive) -> dict[int, str]:
    """inode -> name of each object of the source's store (run files are links to them)."""
    found = {}
    for path in source.objects.paths():
        digest = path.parent.name + path.name
        if runfiles.is_sha256(digest):
            found[path.lstat().st_ino] = digest
    return found


def _copy_run(
    source: Archive, run_id: str, destination: Archive, inodes: dict[int, str]
) -> tuple[str, int]:
    """Copy one run, as its record describes it; its new id and the bytes of objects
    copied. `Refused` when it cannot arrive as it is: then no run of it is left (objects
    it brought that matched stay until `gc`, as after an interrupted transfer)."""
    folder = source.run_dir(run_id)
    record, expected = _record(folder)
    staging = destination.staging()
    try:
        with destination.objects.writing():
            arrival = _Arrival(destination.objects, expected, inodes)
            arrival.copy(folder, staging, "")
        lacking = sorted(expected.keys() - arrival.seen)
        if lacking:
            raise Refused(f"{_shown(lacking[0])}: missing, though its record names it")
        if not isinstance(record.get("origin"), dict):
            host = record.get("host")
            record["origin"] = {
                "archive": _identity(source),
                "host": host.get("name") if isinstance(host, dict) else None,
                "id": run_id,
            }
        new_id = destination.publish(staging, record)
    except OSError as e:
        raise Refused(_shown(str(e))) from e
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return new_id, arrival.size


def _record(folder: Path) -> tuple[Record, dict[str, runfiles.Named]]:
    """The record of a run from elsewhere, if it can be taken as it is (the record of its
    folder, naming only files inside it, strict JSON as `publish` writes it), and the
    files it names, by path."""
    try:
        record = read_record(folder / RECORD)
        expected = {file.path: file for file in runfiles.named(record)}
    except ValueError as e:
        raise Refused(f"its record is damaged: {e}") from e
    try:
        jsontext.dumps(record)
    except ValueError as e:
        raise Refused(f"its record is not strict JSON: {e}") from e
    except RecursionError as e:
        raise Refused("its record is nested too deeply") from e
    return record, expected


def _identity(source: Archive) -> str | None:
    """The source archive's own uid (None when none can be given it: a read-only copy)."""
    try:
        return source.identity()
    except OSError:
        return None


class _Arrival:
    """Copying one run folder's tree into a staging folder, checking it as it goes."""

    def __init__(
        self, store: ObjectStore, expected: dict[str, runfiles.Named], inodes: dict[int, str]
    ) -> None:
        self.store = store
        self.expected = expected
        self.inodes = inodes
        self.seen: set[str] = set()
        self.size = 0

    def copy(self, folder: str | Path, target: Path, prefix: str) -> None:
        """Copy what `folder` holds into `target` (new, empty); `prefix`: its place in
        the run folder."""
        with os.scandir(folder) as found:
            entries = sorted(found, key=lambda e: e.name)
        for entry in entries:
            relative = prefix + entry.name
            if entry.is_symlink():
                self._link(entry, relative, target / entry.name)
            elif entry.is_dir(follow_symlinks=False):
                (target / entry.name).mkdir()
                self.copy(entry.path, target / entry.name, relative + "/")
            elif entry.is_file(follow_symlinks=False):
                if relative != RECORD:  # written last, by `publish`
                    self._file(entry, relative, target / entry.name)
            else:
                raise Refused(f"{_shown(relative)}: neither a file, a folder nor a link")

    def _link(self, entry: os.DirEntry[str], relative: str, target: Path) -> None:
        """An output archived as a link arrives as that link, which nothing follows."""
        pointed = os.readlink(entry.path)  # noqa: PTH115 - str paths
        named = self.expected.get(relative)
        if named is None or named.link is None or escape_name(pointed) != named.link:
            raise Refused(f"{_shown(relative)}: a link its record does not name, never followed")
        target.symlink_to(pointed)
        self.seen.add(relative)

    def _file(self, entry: os.DirEntry[str], relative: str, target: Path) -> None:
        named = self.expected.get(relative)
        if named is not None and named.sha256 is None:
            raise Refused(f"{_shown(relative)}: a file where its record names a link")
        digest = named.sha256 if named is not None else self.inodes.get(entry.inode())
        if digest is None:  # no hash to check it by: logs, annotations
            _copy_plain(entry.path, target)
        else:
            try:
                self.size += self.store.add_checked(Path(entry.path), digest)
            except ValueError as e:
                what = "its record" if named is not None else "the object it is a link to"
                raise Refused(f"{_shown(relative)}: its content does not match {what}") from e
            self.store.link(digest, target)
        self.seen.add(relative)


def _copy_plain(path: str, target: Path) -> None:
    """Copy a regular file (never through a link, never from a pipe), keeping its mtime."""
    with os.fdopen(open_regular(path, os.O_NOFOLLOW), "rb") as f, target.open("xb") as copy:
        shutil.copyfileobj(f, copy)
        info = os.fstat(f.fileno())
    os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))


def _merge_annotations(folder: Path, destination: Archive, their_id: str) -> bool:
    """Copy the annotation files `destination`'s run lacks; True when there were any."""
    mine = _annotations(folder)
    run_dir = destination.run_dir(their_id)
    if not mine or not run_dir.is_dir():  # removed there: it keeps what it had
        return False
    with contextlib.suppress(FileExistsError):  # a folder, or not one: opening it says
        (run_dir / annotation.FOLDER).mkdir()
    try:
        theirs = open_folder(run_dir, [annotation.FOLDER])
    except OSError as e:
        where = run_dir / annotation.FOLDER
        raise Refused(f"{where}: a link or no folder, never written through") from e
    try:
        present = set(os.listdir(theirs))  # noqa: PTH208 - a descriptor
        missing = {name: data for name, data in mine.items() if name not in present}
        for name, data in missing.items():
            _write_new(theirs, name, data)
    finally:
        os.close(theirs)
    if missing:
        try:
            destination.refresh(their_id)
        except (ValueError, RecursionError) as e:  # NaN, or nested too deeply, from elsewhere
            raise Refused(f"{run_dir / RECORD}: not strict JSON, so not written again") from e
    return bool(missing)


def _annotations(folder: Path) -> dict[str, bytes]:
    """name -> bytes of the run's annotation files; `Refused` where one is a link."""
    try:
        fd = open_folder(folder, [annotation.FOLDER])
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise Refused(f"{annotation.FOLDER}: a link or no folder, never followed") from e
    found = {}
    try:
        for name in sorted(os.listdir(fd)):  # noqa: PTH208 - a descriptor
            if name.endswith(".json") and not name.startswith("."):
                try:
                    with os.fdopen(open_regular(name, os.O_NOFOLLOW, dir_fd=fd), "rb") as f:
                        found[name] = f.read()
                except OSError as e:
                    where = f"{annotation.FOLDER}/{name}"
                    raise Refused(f"{_shown(where)}: a link or no file, never followed") from e
    finally:
        os.close(fd)
    return found


def _write_new(folder: int, name: str, data: bytes) -> None:
    """Write a new file `name` in the open `folder`, whole or not at all."""
    temporary = f".{name}.{os.getpid()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    fd = os.open(temporary, flags, 0o644, dir_fd=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.rename(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
    except BaseException:
        try:
            os.unlink(temporary, dir_fd=folder)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise
        raise


def _shown(text: str) -> str:
    """A name from elsewhere as it may be shown: quoted when it holds control characters."""
    return text if text.isprintable() else repr(text)


def describe(done: Transfer, verb: str) -> str:
    """One line saying what a transfer did."""
    text = f"{verb} {len(done.copied)} run(s), {done.bytes_copied / 1e6:.1f} MB of new content"
    if done.annotated:
        text += f"; notes or tags of {len(done.annotated)} run(s)"
    if done.open_left:
        text += f"; {done.open_left} open run(s) left until they end"
    if done.refused:
        text += f"; {len(done.refused)} refused (said above)"
    return text

"""The run archive (SPEC §6): one folder per run holding its `run.json` record.

Run ids are allocated by renaming a complete, freshly written folder into place: the
rename either wins a free id or fails, so processes sharing one archive (even from
different experiments) never get the same id, and no run folder is ever seen without
its record. Records are replaced atomically (`fsutil.write_atomic`).
"""

from __future__ import annotations

import heapq
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple, TypeGuard, cast

from expman import fsutil, processes
from expman.errors import ArchiveError
from expman.processes import alive
from expman.store import annotation, nextid, sweepref
from expman.store.objects import OBJECTS_DIR, ObjectStore, open_regular
from expman.store.record import Record, new_uid, shape_problem

RECORD = "run.json"
TRASH_DIR = ".trash"  # runs removed by `expman rm`, until `--purge`
PURGED = ".last-purged"  # in TRASH_DIR: the highest id purged
OPEN_DIR = ".open"
IDENTITY = ".archive.json"  # the archive's own uid
_STAGING = ".new-"  # one marker per open run: the archive alone can tell which runs are open
_ID = re.compile(r"^[0-9]{4,}\Z")
_UID = re.compile(r"^[0-9a-f]{32}\Z")  # what `record.new_uid` makes, as run.schema.json says
_RELATIVE = re.compile(r"^last(?:~([0-9]+))?$")


class Damaged(NamedTuple):
    """A run folder whose record cannot be read: reported, then skipped."""

    run_id: str
    path: Path
    reason: str


def _host() -> str:
    return processes.host().replace("-", "_").replace("/", "_")


def _number(name: str) -> int:
    return int(name.split("-")[0])


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def is_uid(value: object) -> TypeGuard[str]:
    """Whether `value` is a run's uid: the only form in which a uid is ever part of a path."""
    return isinstance(value, str) and _UID.match(value) is not None


def identity_problem(record: dict[str, Any], folder: str) -> str | None:
    """What makes `record` not the run of the folder named `folder` (`<id>`, or `<id>-<uid>`
    for a removed run), or None. A run's id is its folder's name, and its uid a uid:
    a record saying otherwise (edited, or from a hostile archive) is damaged, and neither
    field is ever taken as a path."""
    run_id, _, uid = folder.partition("-")
    found = record.get("id")
    if found != run_id:
        return f"its id {found!r} is not its folder's name {run_id}"
    found = record.get("uid")
    if found is not None and not is_uid(found):
        return f"its uid {found!r} is not a uid"
    if uid and found is not None and found != uid:
        return f"its uid {found!r} is not the one its folder's name says"
    return None


# Bytes of a record read: far beyond any record expman writes (a run with 100,000 outputs
# is some 15 MB); a larger one is damaged, never read into memory.
MAX_RECORD = 256 << 20


def read_record(path: Path | str) -> Record:
    """The run.json at `path` (in its run folder) as a record; ValueError (saying the path)
    when it cannot be read as one, is not the record of its folder (`identity_problem`),
    or lacks what every record holds (`record.shape_problem`)."""
    try:  # never through a link, never waiting on a pipe: archives come from elsewhere
        with os.fdopen(open_regular(str(path), os.O_NOFOLLOW), "rb") as f:
            if os.fstat(f.fileno()).st_size > MAX_RECORD:
                raise ValueError(f"larger than {MAX_RECORD >> 20} MiB")
            record = json.loads(f.read(MAX_RECORD + 1))
    except RecursionError as e:
        raise ValueError(f"{path}: damaged record: nested too deeply") from e
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: damaged record: {getattr(e, 'strerror', None) or e}") from e
    if not isinstance(record, dict):
        raise ValueError(f"{path}: damaged record: not a JSON object")
    folder = os.path.basename(os.path.dirname(path))  # noqa: PTH119, PTH120
    problem = identity_problem(record, folder) or shape_problem(record)
    if problem:
        raise ValueError(f"{path}: damaged record: {problem}")
    return cast("Record", record)  # the one place JSON becomes a record: checked above


class Archive:
    """The folder of run folders, and the object store inside it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = ObjectStore(root / OBJECTS_DIR)
        self._sweeps = sweepref.Reader(root)

    def run_dir(self, run_id: str) -> Path:
        """The folder of one run."""
        return self.root / run_id

    def ids(self) -> list[str]:
        """Every run id, in numeric order."""
        return sorted(self._unsorted_ids(), key=int)

    def end_ids(self, count: int, newest: bool) -> list[str]:
        """The first `count` run ids in numeric order (the last ones, newest first, with
        `newest`), without sorting them all: at 100,000 runs that was most of the time
        of `list --limit` and `show last` above listing the folder."""
        pick = heapq.nlargest if newest else heapq.nsmallest
        return pick(count, self._unsorted_ids(), key=int)

    def before(self, run_id: str, count: int) -> list[str]:
        """The ids of up to `count` runs just before `run_id` that exist, newest first,
        without listing the archive (ids are numbers given in order)."""
        number = int(run_id)
        ids = (f"{n:04d}" for n in range(number - 1, max(0, number - 1 - count), -1))
        return [i for i in ids if self.run_dir(i).is_dir() and not self.run_dir(i).is_symlink()]

    def _unsorted_ids(self) -> list[str]:
        try:
            entries = os.scandir(self.root)
        except FileNotFoundError:
            return []
        # A run folder's name: at least four ASCII digits (as `_ID` says; faster so). A
        # link is no run folder, wherever it points (the file type comes with the names).
        with entries:
            return [
                e.name
                for e in entries
                if e.name.isdigit() and e.name.isascii() and len(e.name) >= 4 and not e.is_symlink()
            ]

    def create(self, record: Record) -> str:
        """Allocate the next free id for `record`, write it, and return the id."""
        staging = self.staging()
        try:
            return self.publish(staging, record)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def staging(self) -> Path:
        """A new private folder in the archive to prepare a run folder in; its name
        carries this host and pid, so that one left by a killed process is found."""
        folder = self.root / nextid.STAGINGS  # not the archive's own: `nextid`
        folder.mkdir(parents=True, exist_ok=True)
        prefix = f"{_STAGING}{_host()}-{os.getpid()}-"
        staging = Path(tempfile.mkdtemp(prefix=prefix, dir=folder))
        staging.chmod(0o777 & ~_umask())  # mkdtemp makes it private; a run is not
        return staging

    def publish(self, staging: Path, record: Record) -> str:
        """Write `record` into the prepared `staging` folder (last, once everything it
        names is there) and rename the folder to the next free id; returns the id. The
        id is chosen and taken under the archive's id lock (`nextid.locked`), which `rm`
        takes too."""
        with nextid.locked(self.root):
            guessed = nextid.guess(self.root)
            if guessed is None:
                numbers = [int(i) for i in self.ids()] + [int(i) for i in self.removed_ids()]
                numbers.append(self.last_purged())
                guessed = max(numbers) + 1, 0
            number, streak = guessed
            while True:
                run_id = f"{number:04d}"
                record["id"] = run_id
                fsutil.write_json_atomic(staging / RECORD, record)
                before = nextid.links(self.root)
                try:
                    staging.rename(self.run_dir(run_id))  # fails if the id is taken
                except OSError as e:
                    if not self.run_dir(run_id).exists():
                        raise ArchiveError(f"cannot create a run in {self.root}: {e}") from e
                    number += 1  # made by hand meanwhile: the next
                    continue
                fsutil.sync_dir(self.root)
                nextid.given(self.root, number, streak, before)
                return run_id

    def remove_abandoned_stagings(self) -> None:
        """Remove staging folders that a killed process of this host left."""
        prefix = f"{_STAGING}{_host()}-"
        for folder in (self.root / nextid.STAGINGS, self.root):  # the archive: an older expman
            try:
                names = [n for n in os.listdir(folder) if n.startswith(prefix)]  # noqa: PTH208
            except OSError:
                continue
            for name in names:
                pid = name[len(prefix) :].split("-", 1)[0]
                if pid.isdigit() and not alive(int(pid)):
                    shutil.rmtree(folder / name, ignore_errors=True)

    def identity(self) -> str:
        """This archive's own uid (made on first use): where a pulled run came from."""
        path = self.root / IDENTITY
        try:
            found = json.loads(path.read_bytes()).get("uid")
            if isinstance(found, str):
                return found
        except (OSError, ValueError, AttributeError):
            pass
        self.root.mkdir(parents=True, exist_ok=True)
        fsutil.write_json_atomic(path, {"uid": new_uid()})
        return str(json.loads(path.read_bytes())["uid"])

    def refresh(self, run_id: str) -> Record:
        """Derive the record again from the run's annotation files (after copying some)."""
        run_dir = self.run_dir(run_id)
        with fsutil.locked(run_dir):  # record writes and annotations never interleave
            return self._write(run_dir, self.read(run_id))

    def removed_folders(self) -> list[str]:
        """Folder names (`<id>-<uid>`) of the runs `expman rm` moved aside, by id."""
        try:
            with os.scandir(self.root / TRASH_DIR) as entries:
                names = [e.name for e in entries if e.is_dir(follow_symlinks=False)]
        except OSError:
            return []
        return sorted((n for n in names if _ID.match(n.split("-")[0])), key=_number)

    def last_purged(self) -> int:
        """The highest id of a purged run (0 when none was): never given again either."""
        try:
            return int((self.root / TRASH_DIR / PURGED).read_text())
        except (OSError, ValueError):
            return 0

    def note_purged(self, run_id: str) -> None:
        """Remember that `run_id` was purged, so that no run gets its id again."""
        if int(run_id) > self.last_purged():
            fsutil.write_atomic(self.root / TRASH_DIR / PURGED, f"{int(run_id)}\n".encode())

    def removed_ids(self) -> list[str]:
        """Ids of the runs `expman rm` moved aside (their ids are never given again)."""
        return [name.split("-")[0] for name in self.removed_folders()]

    def read(self, run_id: str) -> Record:
        """The record of one run; `ArchiveError` when it is missing or damaged."""
        if not _ID.match(run_id):
            raise ArchiveError(f"{run_id!r} is not a run id (a run folder's name: 0001, 0002, ...)")
        path = self.run_dir(run_id) / RECORD
        if not path.exists() or self.run_dir(run_id).is_symlink():
            raise ArchiveError(f"{path}: no such run record")
        try:
            return read_record(path)
        except ValueError as e:
            raise ArchiveError(str(e)) from e

    def read_valid(self, run_id: str) -> Record:
        """The record of one run, checked against `run.schema.json`: a record that is not
        one (edited by hand, damaged) is an `ArchiveError` saying where, not a crash."""
        from expman.store.record import problems  # imports jsonschema: only when needed

        data = self.read(run_id)
        found = problems(data)
        if found:
            shown = "\n  ".join(found[:5]) + ("\n  ..." if len(found) > 5 else "")
            raise ArchiveError(
                f"{self.run_dir(run_id) / RECORD}: damaged record (it is not what "
                f"run.schema.json describes):\n  {shown}\n"
                f"`expman show {run_id} --json` prints it as it is"
            )
        return data

    def write(self, record: Record, durable: bool = True) -> None:
        """Replace a run's record atomically, with the notes and tags added to it after
        the fact (`annotation`), and a sweep's point with its sweep's fields (`sweepref`),
        derived into it.

        Without `durable`, the record is not synced to disk: for what only matters while
        the machine is up (a step that is running, its pid), which a power cut makes
        moot; readers see the new record or the old one all the same."""
        run_dir = self.run_dir(record["id"])
        try:
            with fsutil.locked(run_dir):  # record writes and annotations never interleave
                self._write(run_dir, record, durable)
        except OSError as e:
            raise ArchiveError(f"cannot write {run_dir / RECORD}: {e.strerror or e}") from e

    def update(self, run_id: str, change: Callable[[Record], bool]) -> Record | None:
        """Read a record, let `change` change it, and write it, all under the run's lock;
        `change` returns False to leave it as it was (then None is returned)."""
        run_dir = self.run_dir(run_id)
        try:
            with fsutil.locked(run_dir):
                found = self.read(run_id)
                return self._write(run_dir, found) if change(found) else None
        except OSError as e:
            raise ArchiveError(f"cannot write {run_dir / RECORD}: {e.strerror or e}") from e

    def annotate(self, run_id: str, entry: dict[str, Any]) -> Record:
        """Add a note or tag change to a run (see `annotation`); returns the record."""
        run_dir = self.run_dir(run_id)
        try:
            annotation.add(run_dir, entry)
            with fsutil.locked(run_dir):  # record writes and annotations never interleave
                # The record as it is now: a runner may have written it since.
                return self._write(run_dir, self.read(run_id))
        except OSError as e:
            raise ArchiveError(f"cannot annotate run {run_id}: {e.strerror or e}") from e

    def _write(self, run_dir: Path, record: Record, durable: bool = True) -> Record:
        found = annotation.entries(run_dir)
        if found or "notes" in record:
            record = annotation.apply(record, found)
        record = self._sweeps.derive(record)
        fsutil.write_json_atomic(run_dir / RECORD, record, sync=durable)
        return record

    def mark_open(self, marker: dict[str, Any]) -> None:
        """Note that the run `marker["uid"]` is open, with where and by whom."""
        folder = self.root / OPEN_DIR
        folder.mkdir(exist_ok=True)
        fsutil.write_json_atomic(folder / f"{marker['uid']}.json", marker)

    def unmark_open(self, uid: str) -> None:
        """The run `uid` is closed."""
        (self.root / OPEN_DIR / f"{uid}.json").unlink(missing_ok=True)

    def open_markers(self) -> list[dict[str, Any]]:
        """The markers of every open run in this archive (of every experiment using it)."""
        found = []
        for path in sorted((self.root / OPEN_DIR).glob("*.json")):
            try:
                marker = json.loads(path.read_bytes())
            except (OSError, ValueError):
                continue
            if isinstance(marker, dict):
                found.append(marker)
        return found

    def records(self) -> Iterator[Record | Damaged]:
        """Every record, oldest first; a damaged one is yielded as `Damaged`."""
        for run_id in self.ids():
            try:
                yield self.read(run_id)
            except ArchiveError as e:
                yield Damaged(run_id, self.run_dir(run_id), str(e))

    def resolve(self, name: str) -> str:
        """A run id from what a user typed: `0007`, `7`, `last`, `last~2`."""
        relative = _RELATIVE.match(name)
        if relative:
            back = int(relative.group(1) or 0)
            ids = self.end_ids(back + 1, newest=True)
            if back >= len(ids):
                count = len(self._unsorted_ids())
                raise ArchiveError(f"'{name}': the archive {self.root} has {count} runs")
            return ids[back]
        if name.isdigit() and name.isascii():
            run_id = f"{int(name):04d}"
            if run_id in self._unsorted_ids():
                return run_id
        raise ArchiveError(f"'{name}' is not a run in {self.root} (try an id, last or last~N)")

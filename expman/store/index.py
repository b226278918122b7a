"""A cache of the archive's records, by field, so that questions over many runs are quick.

    <archive>/.cache/<version>/<segment>/index.marshal    ids, signatures, key, damaged, key orders
    <archive>/.cache/<version>/<segment>/<field>.marshal  (key, one value per run; `()`: absent)
    <archive>/.cache/<version>/<segment>/leaf-<digest>.marshal  the same, of a path (`metrics.acc`)
    <archive>/.cache/<version>/ids.marshal  (the archive folder's signature, the run ids by segment)

Runs are grouped in segments of 1,000 ids. The cache is a speed-up, never a second source
of truth: it answers exactly what the run folders would, or is not used. Why it cannot
answer stale:

- What a cached value depends on is said in one place, `signature.of_records`: the size,
  modification and change times and inode of the run's `run.json`. The cache, and a
  `LazyRecord` completing itself, see nothing else: a field derived from any other file
  must be written into `run.json` whenever that file changes (as notes and tags are,
  see `annotation`), or that file's stat must be added to the signature.
- A signature names one content. A segment is cached only when each record's signature
  was the same after it was read and its change time is older than the moment its
  reading started, on the file system's own clock (`signature.clock`): any later change
  of the file, or another file put in its place, has a later change time, so another
  signature, even where time stamps are coarse. Records modified in the last seconds
  are not cached either (as git's "racy" index entries).
- A segment's key is a digest of its ids and their signatures: it names every record's
  content. Each column file holds the key of the records it was read from, and is used
  only with an index of the same key; any other column (of an earlier state of the
  archive, of a writer killed halfway, of a query writing at the same time) is read
  again from the records.
- An index is used only when every `run.json` has the signature it holds (one `stat`
  each); otherwise the segment is read again from the run folders.
- The run ids are listed again unless the archive folder has the signature it had when
  they were listed (`_segments`): adding, removing or renaming an entry (a run folder
  replaced by a link among them) sets the folder's change time, and the listing is cached
  by the rule records are (taken after the clock was read, the folder unchanged).

Deleting `.cache/` costs one rebuild; segments not cached are read from their records by
forked workers, one a core, each by the rules above, when there are several. A query loads
only the fields its expression names, by column (`load_table`: a `recordtable.Table`), and
a path into a field (`metrics.acc`) as a column of its own when it asks for one: a leaf
column is derived from its field's column, and cached under the same key, so that a query
over `metrics.acc` reads one number a run instead of every run's `metrics`. The records it
gives are `recordtable.LazyRecord`s.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from expman import fsutil, processes
from expman.store import signature
from expman.store.archive import RECORD, Archive, Damaged, read_record
from expman.store.recordtable import ABSENT, Leaf, Table, no_collector
from expman.store.signature import Signature

SEGMENT = 1000
CACHE_DIR = ".cache"
_VERSION = f"records-5-{sys.implementation.cache_tag}-{marshal.version}"
# The largest fields, seldom asked (each attempt holds its stages again: half the bytes
# of a record): cached by the first query that names them, not by every first query.
DEFERRED = frozenset({"stages", "attempts"})


def load(archive: Archive, fields: Iterable[str] | None = None) -> tuple[list[Any], list[Damaged]]:
    """Every record of the archive, oldest first, and the damaged ones.

    With `fields`, records hold only those (and `id`) until asked for more.
    """
    table, damaged = load_table(archive, fields)
    return table.rows(), damaged


def load_table(
    archive: Archive, fields: Iterable[str] | None = None, leaves: Iterable[Leaf] = ()
) -> tuple[Table, list[Damaged]]:
    """`load`, by column: every readable record's fields (`fields` and `id`, or all), oldest
    first, and the damaged records; and the values of each of `leaves` (paths of two
    names or more) as columns of their own (`Table.leaves`)."""
    wanted = None if fields is None else {"id", *fields}
    paths = tuple(dict.fromkeys(leaf for leaf in leaves if len(leaf) > 1))
    with no_collector():
        segments = _segments(archive)
        found = _cached_segments(archive, segments, _Wanted(wanted, paths))
        stale = [job for job in found.values() if isinstance(job, _Job)]
        rebuilt = dict(zip((job.number for job in stale), _rebuild_all(stale), strict=True))
    table = Table(wanted is None)
    damaged: list[Damaged] = []
    for number, cached in found.items():
        piece, bad = cached if isinstance(cached, tuple) else rebuilt[number]
        table.extend(piece)
        damaged.extend(Damaged(i, archive.run_dir(i), reason) for i, reason in bad.items())
    return table, damaged


Piece = tuple[Table, dict[str, str]]  # a segment's readable records, and the damaged ones


def _segments(archive: Archive) -> dict[int, list[str]]:
    """The archive's run ids by segment, in order: from the cache while the archive
    folder has the signature it had when they were listed (an entry added, removed or
    renamed changes the folder's change time), else listed, and cached by the rule
    records are (listed after the file system's clock was read, the folder unchanged
    from before to after)."""
    listing = archive.root / CACHE_DIR / _VERSION / "ids.marshal"
    before = signature.of_folder(archive.root)
    cached = _read(listing)
    if before is not None and type(cached) is tuple and len(cached) == 2 and cached[0] == before:
        return cached[1]  # type: ignore[no-any-return]
    # Cached once records are (a first query over fresh records leaves no cache at all).
    started = signature.clock(listing.parent) if listing.parent.is_dir() else None
    before = signature.of_folder(archive.root)  # after the clock: any later change is newer
    segments: dict[int, list[str]] = {}
    for run_id in archive.ids():
        segments.setdefault(int(run_id) // SEGMENT, []).append(run_id)
    after = signature.of_folder(archive.root)
    times = None if after is None else signature.times(after)
    if started is not None and after == before and times is not None and times[1] < started:
        with contextlib.suppress(OSError, ValueError):
            fsutil.write_atomic(listing, marshal.dumps((after, segments)), sync=False)
    return segments


class _Wanted:
    """What a query wants of each record: its `fields` (None: all), and its `leaves`."""

    __slots__ = ("fields", "leaves")

    def __init__(self, fields: set[str] | None, leaves: tuple[Leaf, ...]) -> None:
        self.fields, self.leaves = fields, leaves


class _Job:
    """A segment to read from its records: where, which, and their signatures before."""

    __slots__ = ("folder", "ids", "number", "paths", "signatures", "wanted")

    def __init__(
        self,
        number: int,
        folder: Path,
        ids: list[str],
        paths: list[str],
        signatures: list[Signature],
        wanted: _Wanted,
    ) -> None:
        self.number, self.folder, self.ids, self.paths = number, folder, ids, paths
        self.signatures, self.wanted = signatures, wanted


def _cached_segments(
    archive: Archive, segments: dict[int, list[str]], wanted: _Wanted
) -> dict[int, Piece | _Job]:
    """Each segment from the cache where it is current, or the job of reading it."""
    base = str(archive.root)
    found: dict[int, Piece | _Job] = {}
    try:
        root = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return found  # no archive folder: no runs
    try:
        for number, ids in segments.items():
            folder = archive.root / CACHE_DIR / _VERSION / f"{number:06d}"
            # Relative to the archive's folder: a shorter walk for the kernel (30% less).
            signatures = signature.of_records((f"{run_id}/{RECORD}" for run_id in ids), root)
            paths = [f"{base}/{run_id}/{RECORD}" for run_id in ids]
            index = _read(folder / "index.marshal")
            piece = None
            if (
                isinstance(index, dict)
                and index.get("ids") == "\n".join(ids)
                and index.get("sigs") == b"".join(signatures)
            ):
                piece = _from_cache(folder, index, paths, wanted)
            found[number] = piece or _Job(number, folder, ids, paths, signatures, wanted)
    finally:
        os.close(root)
    return found


def _from_cache(
    folder: Path, index: dict[str, Any], paths: list[str], wanted: _Wanted
) -> Piece | None:
    """A segment from its current index and the columns of the index's key; the columns
    it lacks are read from the records (a leaf from its field's column) and cached. None
    when a record changed meanwhile."""
    key, fields = index["key"], set(index["fields"])
    names = fields if wanted.fields is None else wanted.fields & fields
    leaves = {leaf: _column(folder / _leaf_file(leaf), key) for leaf in wanted.leaves}
    underneath = {leaf[0] for leaf, column in leaves.items() if column is None} & fields
    columns: dict[str, list[Any]] = {}
    for name in names | underneath:
        column = _column(folder / f"{name}.marshal", key)
        if column is not None:
            columns[name] = column
    missing = [name for name in names | underneath if name not in columns]
    if missing:  # deferred, of another key, or removed
        read = _columns_from_records(paths, index["sigs"], missing)
        if read is None:
            return None
        columns.update(read)
        _write_columns(folder, key, read)
    derived = {
        leaf: _leaf_column(columns.get(leaf[0]), leaf, len(paths))
        for leaf, column in leaves.items()
        if column is None
    }
    _write_columns(folder, key, {_leaf_file(leaf).stem: column for leaf, column in derived.items()})
    damaged: dict[str, str] = index["damaged"]
    orders = [index["orders"][n] if n >= 0 else () for n in index["order_of"]]
    piece = Table(wanted.fields is None)
    piece.columns = {name: columns[name] for name in names if name in columns}
    piece.leaves = {leaf: derived.get(leaf, column) or [] for leaf, column in leaves.items()}
    if damaged:  # left out
        ids = index["ids"].split("\n")
        keep = [p for p, run_id in enumerate(ids) if run_id not in damaged]
        paths, orders = [paths[p] for p in keep], [orders[p] for p in keep]
        piece.columns = {name: [c[p] for p in keep] for name, c in piece.columns.items()}
        piece.leaves = {leaf: [c[p] for p in keep] for leaf, c in piece.leaves.items()}
    piece.paths, piece.orders = paths, orders
    return piece, damaged


def _leaf_file(leaf: Leaf) -> Path:
    """The name of a leaf's column file (any names, of any length: digested)."""
    digest = hashlib.blake2b("\0".join(leaf).encode("utf-8", "surrogatepass"), digest_size=12)
    return Path(f"leaf-{digest.hexdigest()}.marshal")


def _leaf_column(column: list[Any] | None, leaf: Leaf, count: int) -> list[Any]:
    """The values of `leaf` below the values of its field's `column` (None: no record has
    the field): `ABSENT` where a value is no object or lacks the next name."""
    if column is None:
        return [ABSENT] * count
    rest = leaf[1:]
    values = []
    for value in column:
        for name in rest:
            value = value.get(name, ABSENT) if type(value) is dict else ABSENT
        values.append(value)
    return values


def _column(path: Path, key: bytes) -> list[Any] | None:
    """A cached column, if it was read from the records that `key` names."""
    found = _read(path)
    if type(found) is tuple and len(found) == 2 and found[0] == key:
        return found[1]  # type: ignore[no-any-return]
    return None


def _columns_from_records(
    paths: list[str], signatures: bytes, names: list[str]
) -> dict[str, list[Any]] | None:
    """Columns read from the records, if every record still has its signature after
    they were read (None if not)."""
    columns: dict[str, list[Any]] = {name: [ABSENT] * len(paths) for name in names}
    for position, path in enumerate(paths):
        try:
            record = read_record(path)
        except ValueError:
            continue  # damaged when cached (or since: its signature says so below)
        for name in names:
            columns[name][position] = record.get(name, ABSENT)
    if b"".join(signature.of_records(paths)) != signatures:
        return None
    return columns


_PARALLEL = 2  # segments to read from their records: from this many on, every core reads


def _rebuild_all(jobs: list[_Job]) -> list[Piece]:
    """Read segments from their records: on every core when there are several (parsing
    JSON is most of a first query's time, and one process parses on one core)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    if (
        len(jobs) < _PARALLEL
        or cores < 2
        or not hasattr(os, "fork")
        or threading.active_count() > 1
    ):
        return [_rebuild(job) for job in jobs]
    import multiprocessing  # only for a first query over many runs
    from concurrent.futures import ProcessPoolExecutor

    # Forked: the workers have this process's modules, and nothing to start. They die
    # with this process, however it dies: else they wait on their queue for good.
    context = multiprocessing.get_context("fork")
    workers = min(cores, len(jobs), 4)
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_die_with(os.getpid())
    ) as pool:
        return list(pool.map(_rebuild, jobs))


def _die_with(parent: int) -> Callable[[], None]:
    """What a worker of `parent` calls first: SIGKILL when `parent` dies (at once, if it
    died before)."""

    def initialize() -> None:
        processes.signal_on_parent_death(signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(1)

    return initialize


def _rebuild(job: _Job) -> Piece:
    """A segment read from its records, and cached if every record provably has the
    content read under its signature."""
    ids, paths, signatures = job.ids, job.paths, job.signatures
    started = signature.clock(job.folder) if signature.settled(signatures) else None
    records: dict[str, Mapping[str, Any]] = {}
    damaged: dict[str, str] = {}
    for run_id, path in zip(ids, paths, strict=True):
        try:
            records[run_id] = read_record(path)
        except ValueError as e:
            damaged[run_id] = str(e)
    piece = _piece(ids, paths, records, job.wanted)
    if started is not None and signature.unchanged_since(paths, signatures, started):
        _write(job.folder, ids, signatures, records, damaged, job.wanted)
    return piece, damaged


def _piece(
    ids: list[str], paths: list[str], records: dict[str, Mapping[str, Any]], wanted: _Wanted
) -> Table:
    """The readable `records` (by id) as a table of their `wanted` fields and leaves."""
    fields = wanted.fields
    piece = Table(fields is None)
    orders: dict[tuple[str, ...], tuple[str, ...]] = {}  # one tuple per distinct order
    for run_id, path in zip(ids, paths, strict=True):
        record = records.get(run_id)
        if record is None:
            continue
        position = len(piece.paths)
        piece.paths.append(path)
        order = tuple(record)
        piece.orders.append(orders.setdefault(order, order))
        for name, value in record.items():
            if fields is None or name in fields:
                column = piece.columns.get(name)
                if column is None:
                    column = piece.columns[name] = [ABSENT] * position
                column.append(value)
        for column in piece.columns.values():
            if len(column) == position:
                column.append(ABSENT)
    read = [records[run_id] for run_id in ids if run_id in records]
    for leaf in wanted.leaves:
        piece.leaves[leaf] = _leaf_column([r.get(leaf[0], ABSENT) for r in read], leaf, len(read))
    return piece


def _write(
    folder: Path,
    ids: list[str],
    signatures: list[Signature],
    records: dict[str, Mapping[str, Any]],
    damaged: dict[str, str],
    wanted: _Wanted,
) -> None:
    """Cache a segment under the key of its records' signatures.

    The `DEFERRED` fields are cached only when `wanted` (then a later query naming them
    caches them: `_from_cache`), and so are leaves."""
    key = _key(ids, signatures)
    columns: dict[str, list[Any]] = {}
    for position, run_id in enumerate(ids):  # one pass: a column per field, in id order
        for name, value in records.get(run_id, {}).items():
            column = columns.get(name)
            if column is None:
                column = columns[name] = [ABSENT] * len(ids)
            column[position] = value
    fields = sorted(columns)
    cached = {
        name: columns[name]
        for name in fields
        if name not in DEFERRED or wanted.fields is None or name in wanted.fields
    }
    for leaf in wanted.leaves:
        cached[_leaf_file(leaf).stem] = _leaf_column(columns.get(leaf[0]), leaf, len(ids))
    orders: dict[tuple[str, ...], int] = {}
    order_of = [
        orders.setdefault(tuple(records[i]), len(orders)) if i in records else -1 for i in ids
    ]
    index = {
        "ids": "\n".join(ids),
        "sigs": b"".join(signatures),
        "key": key,
        "fields": fields,
        "damaged": damaged,
        "orders": list(orders),  # the distinct key orders of the records
        "order_of": order_of,
    }
    if _write_columns(folder, key, cached):
        with contextlib.suppress(OSError, ValueError):
            fsutil.write_atomic(folder / "index.marshal", marshal.dumps(index), sync=False)


def _key(ids: list[str], signatures: list[Signature]) -> bytes:
    """The name of the content of a segment's records."""
    digest = hashlib.blake2b("\n".join(ids).encode("utf-8", "surrogatepass"), digest_size=16)
    digest.update(b"".join(signatures))
    return digest.digest()


def _write_columns(folder: Path, key: bytes, columns: dict[str, list[Any]]) -> bool:
    """Cache columns read from the records that `key` names (by the name of their file,
    without `.marshal`); False if one could not be."""
    try:
        for name, column in columns.items():
            data = marshal.dumps((key, column))
            fsutil.write_atomic(folder / f"{name}.marshal", data, sync=False)
    except (OSError, ValueError):
        return False  # a cache: a read-only archive is queried without one
    return True


def _read(path: Path) -> Any:
    try:
        return marshal.loads(path.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return None

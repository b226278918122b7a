"""What each trial of an adaptive search gave, from the archive alone: its objective
values (JMESPath over its succeeded run's record), failed, pruned, still running, or
excluded (its run removed, or its tag `trial` taken away).

`told` reads every record through the record cache; a process that asks again and again
(a local sweep, a Slurm worker) keeps a `Reader`, which reads again only the records
whose signature changed (`store/signature.of_record`) and those of runs it has not seen: a
trial's record, final or not, is stat'ed at each read (a removal or an untag changes it
or takes it away), a run of no trial of the sweep is read once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from expman.errors import QueryError
from expman.store import index, record
from expman.store.archive import RECORD, Archive, read_record
from expman.store.query import Query
from expman.store.signature import Signature, of_record
from expman.sweeps.search_definition import Search
from expman.sweeps.store import TRIAL_TAG, Sweeps
from expman.sweeps.values import number


@dataclass(frozen=True)
class Told:
    """What a point's runs gave: its objective values when one succeeded (None: failed,
    or no finite number), or that it is still running."""

    index: int
    values: tuple[float, ...] | None
    running: bool = False
    pruned: bool = False  # stopped early by the pruner: finished, not failed
    excluded: bool = False  # its run removed (`expman rm`) or tagged `-trial`: unseen


def told(archive: Archive, sweep_id: str, search: Search) -> dict[int, Told]:
    """What each point of the sweep gave, by index (points never run are left out). A
    trial whose runs were removed (`expman rm`) or lost their tag `trial` (`expman tag
    N -trial`) is `excluded`: the sampler never sees it, and no resume runs it again."""
    queries = [Query(text) for text in search.objectives]
    noted = _noted(archive, sweep_id)  # before the records: a run noted is listed
    runs, _ = index.load(archive, _fields(queries))
    trials = (_trial(sweep_id, queries, run) for run in runs)
    return _told_all(archive, sweep_id, [t for t in trials if t is not None], noted)


@dataclass(frozen=True)
class _Run:
    """What one run of a trial says of it."""

    index: int
    untagged: bool
    succeeded: bool
    values: tuple[float, ...] | None  # its objectives, when it succeeded
    pruned: bool
    ended: bool


@dataclass
class _Read:
    """A record as a `Reader` last read it: its signature before, and the trial it is a
    run of (None: of no trial of the sweep, or damaged when `signature` is None)."""

    signature: Signature | None
    trial: _Run | None


class Reader:
    """What each trial of one sweep gave, kept by one process between its reads: each
    `told` stats the runs of the sweep's trials and reads again only those whose record
    changed, and the runs it has not seen, and says again only what the points of those
    runs gave; it equals `told` at the same moment."""

    def __init__(self, archive: Archive, sweep_id: str, search: Search) -> None:
        self.archive, self.sweep_id = archive, sweep_id
        self.queries = [Query(text) for text in search.objectives]
        self.base = f"{archive.root}/"  # str paths: a Path costs ~1 us, per run
        self.read: dict[str, _Read] = {}  # by run id
        self.runs: dict[int, dict[str, _Run]] = {}  # each point's runs, by run id
        self.found: dict[int, Told] = {}  # what each point with runs gave

    def told(self) -> dict[int, Told]:
        """What each point of the sweep gave now, as `told` says it."""
        noted = _noted(self.archive, self.sweep_id)  # before the records: a run noted is listed
        ids = self.archive.ids()
        changed = self._read_all(ids) if not self.read else self._read_changed(ids)
        for i in changed:
            runs = self.runs.get(i)
            if runs:
                self.found[i] = _point_told(i, [runs[run_id] for run_id in sorted(runs, key=int)])
            else:
                self.runs.pop(i, None)
                self.found.pop(i, None)
        return _with_removed(self.archive, self.sweep_id, dict(self.found), noted)

    def _read_all(self, ids: list[str]) -> set[int]:
        """The first read: every record through the record cache, each signature taken
        before (a record changed since is read again by the next `told`)."""
        signatures = {run_id: self._signature(run_id) for run_id in ids}
        runs, _ = index.load(self.archive, _fields(self.queries))
        found = {str(run.get("id")): run for run in runs}  # `get`: no whole record read
        changed: set[int] = set()
        for run_id in ids:
            run = found.get(run_id)
            if run is None:  # damaged, or made since the listing: read again
                self._keep(run_id, _Read(None, None), changed)
            else:
                trial = _trial(self.sweep_id, self.queries, run)
                self._keep(run_id, _Read(signatures[run_id], trial), changed)
        return changed

    def _read_changed(self, ids: list[str]) -> set[int]:
        """Each run new since the last read, and each trial's run whose record changed,
        read from its record; runs gone (removed) forgotten. The points whose runs
        changed."""
        changed: set[int] = set()
        for run_id in set(self.read).difference(ids):
            self._keep(run_id, None, changed)
        for run_id in ids:
            known = self.read.get(run_id)
            if known is not None and known.signature is not None and known.trial is None:
                continue  # of no trial of this sweep: read once
            signature = self._signature(run_id)
            if known is None or signature is None or signature != known.signature:
                self._keep(run_id, self._read_one(run_id, signature), changed)
        return changed

    def _keep(self, run_id: str, read: _Read | None, changed: set[int]) -> None:
        """Keep what a run's record says now (None: the run is gone), noting the points
        whose runs changed."""
        before = self.read.pop(run_id, None)
        was = before.trial if before is not None else None
        now = read.trial if read is not None else None
        if read is not None:
            self.read[run_id] = read
        if was == now:
            return
        if was is not None:
            self.runs[was.index].pop(run_id, None)
            changed.add(was.index)
        if now is not None:
            self.runs.setdefault(now.index, {})[run_id] = now
            changed.add(now.index)

    def _read_one(self, run_id: str, signature: Signature | None) -> _Read:
        try:
            run = read_record(f"{self.base}{run_id}/{RECORD}")
        except ValueError:
            return _Read(None, None)  # damaged, as the record cache leaves it out: again
        return _Read(signature, _trial(self.sweep_id, self.queries, run))

    def _signature(self, run_id: str) -> Signature | None:
        return of_record(f"{self.base}{run_id}/{RECORD}")


# The readers of this process, by archive and sweep and objectives.
_READERS: dict[tuple[str, str, tuple[str, ...]], Reader] = {}


def reader(archive: Archive, sweep_id: str, search: Search) -> Reader:
    """The `Reader` this process keeps for the sweep (made at the first call)."""
    key = (str(archive.root.resolve()), sweep_id, search.objectives)
    found = _READERS.get(key)
    if found is None:
        found = _READERS[key] = Reader(archive, sweep_id, search)
    return found


def _fields(queries: Sequence[Query]) -> set[str]:
    """The fields of a record that say what its trial gave."""
    return {"sweep", "status", "ended", "tags", "tag_changes", "origin"}.union(
        *(q.fields() for q in queries)
    )


def _noted(archive: Archive, sweep_id: str) -> set[int]:
    return Sweeps(archive).noted(sweep_id)


def _trial(sweep_id: str, queries: Sequence[Query], run: Any) -> _Run | None:
    """What a record says of its trial of the sweep (None: a run of no trial of it)."""
    tag = run.get("sweep")
    if not isinstance(tag, dict) or tag.get("id") != sweep_id or run.get("origin"):
        return None  # another sweep's, or copied from another archive
    position = tag.get("index")
    if not isinstance(position, int):
        return None
    succeeded = run.get("status") == record.SUCCEEDED
    return _Run(
        position,
        _untagged(run),
        succeeded,
        _objectives(queries, run) if succeeded else None,
        isinstance(tag.get("pruned"), dict),
        run.get("ended") is not None,
    )


def _told_all(
    archive: Archive, sweep_id: str, trials: Sequence[_Run], noted: set[int]
) -> dict[int, Told]:
    """What each point gave from its runs (`trials`, oldest first), and the points
    `noted` as run whose runs are gone."""
    by_point: dict[int, list[_Run]] = {}
    for trial in trials:
        by_point.setdefault(trial.index, []).append(trial)
    found = {i: _point_told(i, runs) for i, runs in by_point.items()}
    return _with_removed(archive, sweep_id, found, noted)


def _point_told(index: int, runs: Sequence[_Run]) -> Told:
    """What a point gave from its runs, oldest first: excluded when every run lost its
    tag `trial`."""
    kept = [run for run in runs if not run.untagged]
    return _told(index, kept) if kept else Told(index, None, excluded=True)


def _with_removed(
    archive: Archive, sweep_id: str, found: dict[int, Told], noted: set[int]
) -> dict[int, Told]:
    """`found` (the points with runs), and the points `noted` as run whose runs are
    gone (`expman rm`): excluded."""
    sweeps = Sweeps(archive)
    for i in noted - set(found):
        if (sweeps.result(sweep_id, i) or {}).get("run"):  # it ran; its run is gone
            found[i] = Told(i, None, excluded=True)
    return found


def _untagged(run: Any) -> bool:
    """Whether a trial's run had its tag `trial` taken away (`expman tag N -trial`); a
    run that never got it (its point killed as it opened it) stays a trial."""
    tags, changes = run.get("tags"), run.get("tag_changes")
    if not isinstance(tags, list) or TRIAL_TAG in tags or not isinstance(changes, list):
        return False
    return any(
        isinstance(change, dict) and TRIAL_TAG in (change.get("remove") or []) for change in changes
    )


def _told(index: int, runs: Sequence[_Run]) -> Told:
    """A point's runs (oldest first) as the sampler is told of them."""
    for run in runs:
        if run.succeeded:
            return Told(index, run.values)
    for run in runs:
        if run.pruned:
            return Told(index, None, pruned=True)
    return Told(index, None, running=not runs[-1].ended)


def _objectives(queries: Sequence[Query], run: Any) -> tuple[float, ...] | None:
    values = []
    for query in queries:
        try:
            value = query.search(run)
        except QueryError:
            return None
        if not number(value) or not math.isfinite(value):
            return None
        values.append(float(value))
    return tuple(values)

"""What each trial of an adaptive search gave, from the archive alone: its objective
values (JMESPath over its succeeded run's record), failed, pruned, still running, or
excluded (its run removed, or its tag `trial` taken away).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from expman.errors import QueryError
from expman.store import index, record
from expman.store.archive import Archive
from expman.store.query import Query
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
    wanted = {"sweep", "status", "ended", "tags", "tag_changes", "origin"}.union(
        *(q.fields() for q in queries)
    )
    runs, _ = index.load(archive, wanted)
    by_point: dict[int, list[Any]] = {}
    for run in runs:
        tag = run.get("sweep")
        if not isinstance(tag, dict) or tag.get("id") != sweep_id or run.get("origin"):
            continue  # another sweep's, or copied from another archive
        position = tag.get("index")
        if isinstance(position, int):
            by_point.setdefault(position, []).append(run)
    found = {}
    for i, mine in by_point.items():
        kept = [run for run in mine if not _untagged(run)]
        found[i] = _told(i, kept, queries) if kept else Told(i, None, excluded=True)
    sweeps = Sweeps(archive)
    for i in sweeps.noted(sweep_id) - set(by_point):
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


def _told(index: int, runs: Sequence[Any], queries: Sequence[Query]) -> Told:
    """A point's runs (oldest first) as the sampler is told of them."""
    for run in runs:
        if run.get("status") == record.SUCCEEDED:
            return Told(index, _objectives(queries, run))
    for run in runs:
        if isinstance(run["sweep"].get("pruned"), dict):
            return Told(index, None, pruned=True)
    return Told(index, None, running=runs[-1].get("ended") is None)


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

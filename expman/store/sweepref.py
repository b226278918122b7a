"""What a sweep's point shows of its sweep: the `sweep` field of a run's record.

A point's run records `sweep: {id, index, point}` when it starts. The sweep's own
`sweep.json` (beside the runs, `<archive>/sweeps/<id>/`) holds its hypothesis, and the
observations `expman end --sweep` records; the point's record derives them whenever it
is written (`archive` does so under the run folder's lock, as it derives annotations):

    sweep.hypothesis, sweep.observations    the sweep's; sweep.name when it has one
    observations                            the sweep's, while the run has none of its own

So `end --sweep` while points still run, or before some start, reaches every one of
them, and a query or `show` of any point finds what the sweep concluded. A run copied in
from another archive (`origin`) names a sweep of that archive: it keeps what it had.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from expman.store.record import Record, Sweep

SWEEPS_DIR = "sweeps"
SWEEP = "sweep.json"
SWEEP_ID = re.compile(r"^s[0-9]{4,}$")


class Reader:
    """Derives points' records from their sweeps' files, reading each `sweep.json` once
    while it is unchanged (its stat: a rewritten one is a new file)."""

    def __init__(self, archive: Path) -> None:
        self.archive = archive
        self._read: dict[str, tuple[tuple[int, ...], dict[str, Any] | None]] = {}

    def derive(self, record: Record) -> Record:
        """`record`, with its sweep's fields when it is a point of a sweep here."""
        tag = record.get("sweep")
        if not isinstance(tag, dict) or "origin" in record:
            return record
        sweep_id = tag.get("id")
        if not isinstance(sweep_id, str) or not SWEEP_ID.fullmatch(sweep_id):
            return record  # never a path from a record unchecked
        sweep = self._sweep(sweep_id)
        return record if sweep is None else shown(record, sweep)

    def _sweep(self, sweep_id: str) -> dict[str, Any] | None:
        path = self.archive / SWEEPS_DIR / sweep_id / SWEEP
        try:
            info = path.stat()
        except OSError:
            return None  # no such sweep here: the record keeps its fields
        signature = (info.st_mtime_ns, info.st_size, info.st_ino, info.st_ctime_ns)
        known = self._read.get(sweep_id)
        if known is None or known[0] != signature:
            known = self._read[sweep_id] = (signature, _fields(path))
        return known[1]


def derive(archive: Path, record: Record) -> Record:
    """`record`, with its sweep's fields when it is a point of a sweep of `archive`."""
    return Reader(archive).derive(record)


def _fields(path: Path) -> dict[str, Any] | None:
    """What a point shows of the sweep in `path`; None when it cannot be read."""
    try:
        sweep = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return None  # a damaged sweep: the record keeps its fields
    if not isinstance(sweep, dict):
        return None
    return {key: sweep.get(key) for key in ("name", "hypothesis", "observations")}


def shown(record: Record, sweep: dict[str, Any]) -> Record:
    """Pure: `record` showing `sweep`'s name, hypothesis and observations."""
    tag: Sweep = {**record["sweep"]}
    before = tag.get("observations")
    for key in ("name", "hypothesis", "observations"):
        value = sweep.get(key)
        if isinstance(value, str):
            tag[key] = value
        elif key == "name":
            tag.pop(key, None)
        else:
            tag[key] = ""
    derived: Record = {**record, "sweep": tag}
    own = record.get("observations")
    if not own or own == before:  # none of its own: it shows the sweep's
        derived["observations"] = tag["observations"]
    return derived

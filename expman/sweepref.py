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

SWEEPS_DIR = "sweeps"
SWEEP = "sweep.json"
SWEEP_ID = re.compile(r"^s[0-9]{4,}$")


def derive(archive: Path, record: dict[str, Any]) -> dict[str, Any]:
    """`record`, with its sweep's fields when it is a point of a sweep of `archive`."""
    tag = record.get("sweep")
    if not isinstance(tag, dict) or "origin" in record:
        return record
    sweep_id = tag.get("id")
    if not isinstance(sweep_id, str) or not SWEEP_ID.match(sweep_id):
        return record  # never a path from a record unchecked
    try:
        sweep = json.loads((archive / SWEEPS_DIR / sweep_id / SWEEP).read_bytes())
    except (OSError, ValueError, RecursionError):
        return record  # no such sweep here, or a damaged one: the record keeps its fields
    return shown(record, sweep) if isinstance(sweep, dict) else record


def shown(record: dict[str, Any], sweep: dict[str, Any]) -> dict[str, Any]:
    """Pure: `record` showing `sweep`'s name, hypothesis and observations."""
    tag = dict(record["sweep"])
    before = tag.get("observations")
    for key in ("name", "hypothesis", "observations"):
        value = sweep.get(key)
        if isinstance(value, str):
            tag[key] = value
        elif key == "name":
            tag.pop(key, None)
        else:
            tag[key] = ""
    derived = {**record, "sweep": tag}
    own = record.get("observations")
    if not own or own == before:  # none of its own: it shows the sweep's
        derived["observations"] = tag["observations"]
    return derived

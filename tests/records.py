"""Records made by hand, for tests that need runs without running anything: each holds
what every record read from disk must hold (`id`, `status`), and whatever a test adds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

from expman.store.record import SUCCEEDED, Record


def fake_record(**fields: Any) -> Record:
    """A record with the keys a reader requires (`id` empty: `Archive.create` sets it), and
    any others a test names (even keys no record has: readers keep every key)."""
    return cast("Record", {"id": "", "status": SUCCEEDED, **fields})


def write_record(folder: Path, **fields: Any) -> Record:
    """`fake_record` written as `folder/run.json` (its id the folder's name); returned."""
    record = fake_record(id=folder.name, **fields)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.json").write_text(json.dumps(record), encoding="utf-8")
    return record

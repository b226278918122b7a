"""What a sweep's point shows of its sweep, derived from the sweep's own file: pure
rules, and the file read from the archive (never a path a record names unchecked)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from expman.store.sweepref import Reader, derive, shown
from tests.records import fake_record

TAG: dict[str, Any] = {"id": "s0001", "index": 2, "point": "ab"}
POINT = fake_record(id="0003", observations="", sweep=TAG)
SWEEP = {"id": "s0001", "name": "lr-grid", "hypothesis": "lr matters", "observations": "it does"}


def _sweep_file(archive: Path, data: Any, sweep_id: str = "s0001") -> Path:
    path = archive / "sweeps" / sweep_id / "sweep.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def test_a_point_shows_its_sweep_and_its_observations_follow_the_sweeps() -> None:
    first = shown(POINT, SWEEP)
    assert first["sweep"] == {
        **POINT["sweep"],
        "name": "lr-grid",
        "hypothesis": "lr matters",
        "observations": "it does",
    }
    assert first["observations"] == "it does"
    assert list(first) == list(POINT), "the record keeps its key order"
    revised = shown(first, {**SWEEP, "observations": "revised", "name": None})
    assert revised["observations"] == "revised" and "name" not in revised["sweep"]
    own = shown(
        fake_record(**{**first, "observations": "my own"}), {**SWEEP, "observations": "revised"}
    )
    assert own["observations"] == "my own", "a run's own observations are never replaced"
    assert shown(POINT, {"hypothesis": ["not", "text"]})["sweep"]["hypothesis"] == ""


def test_only_a_sweep_of_this_archive_is_read(tmp_path: Path) -> None:
    _sweep_file(tmp_path, SWEEP)
    assert derive(tmp_path, POINT)["observations"] == "it does"
    pulled = fake_record(
        **{**POINT, "origin": {"archive": "elsewhere", "host": None, "id": "0009"}}
    )
    assert derive(tmp_path, pulled) == pulled, "its sweep is one of the archive it came from"
    (tmp_path / "secret.json").write_text(json.dumps(SWEEP))
    for hostile in ("../secret.json/..", "/etc", "s0001/../..", "s0001\n", 7):
        record = fake_record(**{**POINT, "sweep": {**TAG, "id": hostile}})
        assert derive(tmp_path, record) == record
    assert derive(tmp_path / "nowhere", POINT) == POINT
    _sweep_file(tmp_path, "[[[", "s0002")
    broken = fake_record(**{**POINT, "sweep": {**TAG, "id": "s0002"}})
    assert derive(tmp_path, broken) == broken


def test_a_rewritten_sweep_file_is_read_again(tmp_path: Path) -> None:
    reader = Reader(tmp_path)
    path = _sweep_file(tmp_path, SWEEP)
    assert reader.derive(POINT)["observations"] == "it does"
    again = path.with_name("new.json")
    again.write_text(json.dumps({**SWEEP, "observations": "revised"}))
    again.replace(path)  # as every sweep.json is written: a new file renamed into place
    assert reader.derive(POINT)["observations"] == "revised"

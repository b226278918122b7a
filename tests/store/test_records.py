"""The record as a public format: its schema, its documentation, and the cookbook."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import jsonschema
import pytest

from expman.expfile import reference
from expman.store.record import SCHEMA_PATH, new_uid
from tests import cookbook
from tests.conftest import REPO, RunCli, records

DOC = REPO / "docs" / "records.md"


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cookbook") / "lr-study"
    before = Path.cwd()
    try:
        return cookbook.build(root)
    finally:
        import os

        os.chdir(before)


def test_run_schema_is_valid_and_shipped() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["properties"]["schema_version"]["const"] == 1


def test_every_record_of_real_runs_validates(example: Path) -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    found = records(example)
    assert len(found) == 6
    for record in found:
        errors = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(record)]
        assert errors == [], record["id"]


def test_interrupted_and_open_records_validate(
    tmp_path: Path, run_cli: RunCli, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "expfile.yaml").write_text(
        "version: 1\nname: x\nstages:\n  run: {cmd: 'exit 3'}\n  fetch: {cmd: 'true'}\n"
    )
    run_cli("start", "-m", "opened")
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.validate(records(tmp_path)[0], schema)  # status "started"
    run_cli("run")
    jsonschema.validate(records(tmp_path)[0], schema)  # failed, still open
    run_cli("end", "-m", "x")
    jsonschema.validate(records(tmp_path)[0], schema)


def test_records_doc_lists_every_field_and_is_current() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    fields = reference.record_fields(schema)
    text = DOC.read_text()
    assert reference.splice(text, fields, reference.RECORD_BEGIN, reference.RECORD_END) == text
    for name in schema["required"]:
        assert f"| `{name}` |" in fields


def _cookbook() -> list[tuple[str, str, str]]:
    text = DOC.read_text()
    pattern = r"### \d+\. (.+?)\n\n```sh\n(expman query .+?)\n```\n\n```json\n(.+?)\n```"
    return re.findall(pattern, text, flags=re.S)


def test_cookbook_has_at_least_ten_questions() -> None:
    assert len(_cookbook()) >= 10


@pytest.mark.parametrize(("title", "command", "expected"), _cookbook(), ids=lambda x: x[:40])
def test_cookbook_answers_are_true(example: Path, title: str, command: str, expected: str) -> None:
    """Each command is run through bash, as a reader would paste it."""
    result = subprocess.run(["bash", "-c", command], cwd=example, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == json.loads(expected), title


def test_times_of_one_instant_agree_and_odd_clocks_never_break_a_record() -> None:
    from expman.store import record

    for now in (1795600000.0005, 1795600000.9996, 1e-3, 0.0):
        text, epoch = record.stamp(now)
        assert record.iso(epoch) == text
        assert text.endswith(f"{round(epoch * 1000) % 1000:03d}Z")
    assert record.iso(1e20) == "9999-12-31T23:59:59.999Z"  # a clock far forward
    assert record.iso(-1e12) == "1970-01-01T00:00:00.000Z"
    run: record.Record = {
        "id": "0001",
        "attempts": [],
        "status": "running",
        "started_epoch": 2000.0,
    }
    record.end(run, "", [], now=1000.0)  # the clock was set back while the run was open
    assert run["duration"] == 0.0


def test_a_new_uid_is_a_random_uuid4() -> None:
    import uuid

    uids = {new_uid() for _ in range(1000)}
    assert len(uids) == 1000
    for uid in uids:
        parsed = uuid.UUID(hex=uid)
        assert parsed.hex == uid and len(uid) == 32
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122

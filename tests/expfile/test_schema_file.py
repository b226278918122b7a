"""The schema file itself: valid draft-07, documented, shipped identical inside the wheel."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from expman.expfile import loading
from tests.conftest import REPO


def _properties(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    stack = [("$", schema)]
    while stack:
        where, node = stack.pop()
        for name, sub in node.get("properties", {}).items():
            found.append((f"{where}.{name}", sub))
            stack.append((f"{where}.{name}", sub))
        for name, sub in node.get("definitions", {}).items():
            stack.append((f"#{name}", sub))
    return found


def test_schema_is_valid_draft7() -> None:
    schema = json.loads((REPO / "expfile.schema.json").read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(schema)


def test_every_property_has_title_and_description() -> None:
    schema = json.loads((REPO / "expfile.schema.json").read_text())
    missing = [
        w for w, sub in _properties(schema) if not (sub.get("title") and sub.get("description"))
    ]
    assert missing == []
    assert len(_properties(schema)) > 25


def test_unknown_keys_are_rejected_everywhere() -> None:
    schema = json.loads((REPO / "expfile.schema.json").read_text())
    objects = [schema, schema["properties"]["stages"], *schema["definitions"].values()]
    assert all(o.get("additionalProperties") is False for o in objects if o.get("type") == "object")


@pytest.mark.slow
def test_wheel_ships_an_identical_schema(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("expman-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = archive.read("expman/expfile/expfile.schema.json")
        names = archive.namelist()
    assert shipped == (REPO / "expfile.schema.json").read_bytes()
    assert "expman/cli/templates/init/run.sh" in names
    assert (
        archive_bytes(wheel, "expman/store/run.schema.json")
        == (REPO / "expman" / "store" / "run.schema.json").read_bytes()
    )


def archive_bytes(wheel: Path, name: str) -> bytes:
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(name)


def test_running_code_reads_the_repository_schema() -> None:
    assert loading.schema_path().read_bytes() == (REPO / "expfile.schema.json").read_bytes()

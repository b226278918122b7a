"""The JSON text expman writes: the same value as `json.dumps`, laid out for people."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from expman import jsontext

VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(), inner, max_size=6),
    max_leaves=60,
)


@pytest.mark.slow
@given(VALUES)
def test_the_text_is_the_value(value: Any) -> None:
    text = jsontext.dumps(value)
    assert json.loads(text) == value
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_a_record_keeps_its_outline_and_a_stage_is_one_line() -> None:
    stage = {"name": "pre-run:a", "status": "ran", "logs": ["logs/a.out", "logs/a.err"]}
    record = {
        "id": "0001",
        "vars": {"lr": 0.1},
        "stages": [stage, stage],
        "attempts": [{"number": 1, "stages": [stage]}],
    }
    line = json.dumps(stage, ensure_ascii=False)
    assert jsontext.dumps(record) == (
        "{\n"
        '  "id": "0001",\n'
        '  "vars": {"lr": 0.1},\n'
        '  "stages": [\n'
        f"    {line},\n"
        f"    {line}\n"
        "  ],\n"
        '  "attempts": [\n'
        "    {\n"
        '      "number": 1,\n'
        '      "stages": [\n'
        f"        {line}\n"
        "      ]\n"
        "    }\n"
        "  ]\n"
        "}\n"
    )


def test_long_members_of_the_top_level_are_broken() -> None:
    many = {f"var_{i:02d}": i for i in range(20)}
    text = jsontext.dumps({"vars": many})
    assert '\n    "var_00": 0,\n' in text
    assert all(len(line) <= jsontext.WIDTH for line in text.splitlines())


def test_non_ascii_stays_readable_and_nan_is_refused() -> None:
    assert jsontext.dumps({"note": "café ✓"}) == '{"note": "café ✓"}\n'
    with pytest.raises(ValueError):
        jsontext.dumps({"x": float("nan")})

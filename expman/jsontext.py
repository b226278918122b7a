"""JSON as expman writes it for people to read: records, markers, `show --json`.

`json.dumps(indent=2)` is the obvious choice, but with `indent` Python gives up its C
encoder and walks every value in Python: a runner rewrites its record several times a
step, and with 100 steps that cost 4.5 ms a step (docs/performance.md). Here Python walks
only the outline; each flat entry (an object or array whose members are values, or arrays
and objects of values: a stage, a note, a run's vars) is one call of the C encoder, on one
line:

- the top level and its members are broken one member per line, indented by two spaces,
  unless they are flat and fit in `WIDTH` columns;
- deeper down, a flat entry is always one line (a stage is one line, which `grep` likes),
  and anything else is broken.

The text parses to the same value as `json.dumps` would write; only spaces and line
breaks differ.

Records are strict JSON (RFC 8259), which has no NaN and no infinities: where a value
holds one (a metrics file, a query's result), it is written as the text `number` gives.
A number in a record is one a 64-bit float holds (`finite`), as RFC 8259 advises: the
tools that read records (jq, JavaScript, pandas) read a larger one as infinity.
"""

from __future__ import annotations

import json
import math
from typing import Any

WIDTH = 100

_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(", ", ": "))
_string = json.encoder.encode_basestring  # a str, as `_encoder` writes it (no ASCII escapes)


def _unserializable(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# Made once: `JSONEncoder.encode` makes one a call. (Not in typeshed; a Python without
# the C accelerator has None.)
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
_c_encode = (
    None
    if _c_make_encoder is None
    else _c_make_encoder(None, _unserializable, _string, None, ": ", ", ", False, False, False)
)


def _compact(value: Any) -> str:
    """`value` on one line, as `_encoder` writes it."""
    if _c_encode is None:
        return _encoder.encode(value)
    return "".join(_c_encode(value, 0))


def dumps(value: Any) -> str:
    """`value` as readable JSON, ending in a newline."""
    parts: list[str] = []
    _write(value, 0, parts)
    parts.append("\n")
    return "".join(parts)


def number(value: float) -> float | str:
    """A float as strict JSON holds it: NaN and the infinities as the texts "NaN",
    "Infinity" and "-Infinity", any other as it is."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def finite(value: float) -> bool:
    """Whether a 64-bit float holds the number `value`: finite, and no integer beyond
    one (±1.8e308)."""
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer no float holds
        return False


def strict(value: Any) -> Any:
    """`value` (JSON data) with every float that strict JSON cannot hold as its `number`
    text."""
    if isinstance(value, float):
        return number(value)
    if isinstance(value, dict):
        return {key: strict(item) for key, item in value.items()}
    if isinstance(value, list):
        return [strict(item) for item in value]
    return value


def _write(value: Any, depth: int, parts: list[str]) -> None:
    if isinstance(value, str):
        parts.append(_string(value))
        return
    if not isinstance(value, dict | list):
        parts.append(_compact(value))
        return
    if not value or _flat(value):
        text = _compact(value)
        if depth >= 2 or len(text) + 2 * depth <= WIDTH:
            parts.append(text)
            return
    inner = "\n" + "  " * (depth + 1)
    if isinstance(value, dict):
        parts.append("{")
        for i, (key, member) in enumerate(value.items()):
            parts.append(("," if i else "") + inner + _string(str(key)) + ": ")
            _write(member, depth + 1, parts)
        parts.append("\n" + "  " * depth + "}")
    else:
        parts.append("[")
        for i, member in enumerate(value):
            parts.append(("," if i else "") + inner)
            _write(member, depth + 1, parts)
        parts.append("\n" + "  " * depth + "]")


def _flat(container: dict[str, Any] | list[Any]) -> bool:
    """Whether every member is a value, or an array or object of values."""
    members = container.values() if isinstance(container, dict) else container
    for member in members:
        if isinstance(member, dict | list):
            inner = member.values() if isinstance(member, dict) else member
            if any(isinstance(x, dict | list) for x in inner):
                return False
    return True

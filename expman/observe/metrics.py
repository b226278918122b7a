"""The metrics file a run names: read, and made strict JSON for the record.

A metrics file is the stage's own output, so anything may be in it. Records are strict
JSON (RFC 8259), and metrics never break a run: what JSON cannot hold is written as text
(`NaN`, `Infinity`, `-Infinity`, a number no 64-bit float holds as the infinity its
readers would take it for, a number too small for one as written rather than as 0, text
UTF-8 cannot hold with `\\uXXXX` escapes for its lone surrogates, dates as ISO 8601,
anything else as its text), and a file
that cannot be read at all gives no metrics and a message that the attempt keeps.
"""

from __future__ import annotations

import datetime
import json
import math
from pathlib import Path
from typing import Any

from expman import jsontext

MAX_DEPTH = 64  # nesting of lists and mappings; deeper is not metrics, and breaks JSON tools


class MetricsError(ValueError):
    """The metrics file cannot become record metrics; the message says why."""


def read(path: Path, name: str) -> Any:
    """The content of the metrics file at `path` (JSON, or YAML for .yaml/.yml), as strict
    JSON data; `MetricsError` naming `name` when it cannot be."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise MetricsError(f"{name}: cannot read the metrics: {getattr(e, 'strerror', e)}") from e
    try:
        value = _yaml(text) if path.suffix in (".yaml", ".yml") else _json(text)
    except ValueError as e:
        raise MetricsError(f"{name}: cannot read the metrics: {e}") from e
    except RecursionError as e:
        raise MetricsError(f"{name}: nested too deeply to be metrics") from e
    return strict(value, name)


def _json(text: str) -> Any:
    """JSON metrics; a number that a float would round to 0 stays the text it was."""
    return json.loads(text, parse_float=_float)


def _float(literal: str) -> float | str:
    value = float(literal)
    if value == 0 and any(digit in "123456789" for digit in literal.split("e")[0].split("E")[0]):
        return literal  # 1e-400: below the smallest float, not zero
    return value


def _text(value: str) -> str:
    """`value`, with lone surrogates (JSON's `\\ud800`, which UTF-8 cannot hold) as escapes."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def _yaml(text: str) -> Any:
    """YAML metrics (imported only for them: YAML is slow to import); ValueError when
    they cannot be read."""
    import yaml

    from expman.expfile import yamlnodes

    try:
        node = yamlnodes.compose(text)
    except yamlnodes.SyntaxProblem as e:
        raise ValueError(str(e)) from e
    if node is None:
        return None
    if yamlnodes.expanded_size(node) > yamlnodes.MAX_EXPANDED_NODES:
        raise ValueError("it expands to too many nodes through aliases")
    try:
        return yamlnodes.construct(node)
    except yaml.YAMLError as e:  # a tag no safe loader builds
        raise ValueError(str(e).splitlines()[0]) from e


def strict(value: Any, name: str, depth: int = 0) -> Any:
    """`value` with everything JSON cannot hold written as text (see the module's words)."""
    if depth > MAX_DEPTH:
        raise MetricsError(f"{name}: nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, int) and not jsontext.finite(value):  # readers take it for infinity
        return jsontext.number(math.inf if value > 0 else -math.inf)
    if isinstance(value, str):
        return _text(value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return jsontext.number(value)
    if isinstance(value, dict):
        return {_text(str(k)): strict(v, name, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [strict(v, name, depth + 1) for v in items]
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)

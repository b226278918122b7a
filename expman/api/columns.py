"""The column naming rule: a record flattened into one row of named cells (pure).

- A field whose value is an object becomes one column per key, its name the path of
  keys joined with dots, at any depth: `vars.LR`, `metrics.nested.f1`,
  `series.loss.min`, `sweep.id`. An empty object gives no column.
- A list stays one cell holding the list, never spread over columns: `tags` is
  `["good"]`, a metric `[1, 2]` is `[1, 2]`. `notes` is the list of the notes' texts.
- Any other value is one cell under its field's name (`status`, `duration`); a null one
  is as if absent (a failed run's `metrics: null` adds no `metrics` column).
- `id` is the run folder's name (what the archive lists), whatever the record says.
- Numbers JSON cannot hold are kept in records as the texts `"NaN"`, `"Infinity"` and
  `"-Infinity"`; under `metrics.` and `series.` they are floats again.
- Default columns: `id experiment status started duration tags notes`, then every
  `sweep.*`, `vars.*`, `metrics.*` and `series.*` column any of the runs has, each group
  sorted by name. A run without a column has `None` there.
- A name asked in `columns=` is a column (`vars.LR`) or a prefix of columns ending at a
  dot (`vars` is every `vars.*` column, sorted); a name no run has is a column of `None`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

FIRST = ("id", "experiment", "status", "started", "duration", "tags", "notes")
GROUPS = ("sweep", "vars", "metrics", "series")
DEFAULT = FIRST + GROUPS
_NUMERIC = ("metrics", "series")
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def top_fields(names: Iterable[str]) -> set[str]:
    """The record fields that the column names need."""
    return {name.split(".", 1)[0] for name in names}


def flatten(field: str, value: Any) -> dict[str, Any]:
    """The cells that one record field gives, by column name."""
    if type(value) is not dict:
        if value is None:
            return {}  # as if absent: `metrics: null` beside `metrics.acc` gives no column
        if field == "notes" and type(value) is list:
            return {"notes": [n.get("text") for n in value if isinstance(n, dict)]}
        return {field: value}
    cells: dict[str, Any] = {}
    _into(cells, field + ".", value, field in _NUMERIC)
    return cells


def spread(field: str, values: list[Any]) -> dict[str, list[Any]]:
    """The columns that one field gives, top to bottom: `flatten` of each run's value
    (`None` where a run lacks the field), an object of plain values (`vars`) without
    building its cells one run at a time."""
    count = len(values)
    data: dict[str, list[Any]] = {}
    numeric = field in _NUMERIC
    by_key: dict[str, list[Any]] = {}  # the column of each key of a plain object
    for position, value in enumerate(values):
        if value is None:
            continue
        if type(value) is dict and _plain(value, numeric):
            for key, item in value.items():
                column = by_key.get(key)
                if column is None:
                    column = by_key[key] = data.setdefault(f"{field}.{key}", [None] * count)
                column[position] = item
            continue
        for name, cell in flatten(field, value).items():
            column = data.get(name)
            if column is None:
                column = data[name] = [None] * count
            column[position] = cell
    return data


def _plain(value: dict[str, Any], numeric: bool) -> bool:
    """Whether each of an object's values is its own cell as it is (no object; under
    `metrics` and `series` no text, which may be a number JSON cannot hold)."""
    for item in value.values():
        kind = type(item)
        if kind is dict or (numeric and kind is str):
            return False
    return True


def _into(cells: dict[str, Any], prefix: str, value: dict[str, Any], numeric: bool) -> None:
    for key, item in value.items():
        name = prefix + key
        if type(item) is dict:
            _into(cells, name + ".", item, numeric)
        elif name in cells:
            continue  # `{"a.b": 1}` beside `{"a": {"b": 2}}`: the first in key order
        elif numeric and type(item) is str and item in _NON_FINITE:
            cells[name] = _NON_FINITE[item]
        else:
            cells[name] = item


def default(present: Iterable[str]) -> list[str]:
    """The columns shown when none are asked: `FIRST`, then the groups' columns."""
    grouped = sorted(c for c in set(present) if c.split(".", 1)[0] in GROUPS)
    return [*FIRST, *sorted(grouped, key=lambda c: (GROUPS.index(c.split(".", 1)[0]), c))]


def expand(asked: Iterable[str], present: Iterable[str]) -> list[str]:
    """The columns of a table: each asked name as a column, or the sorted columns it is a
    prefix of; without a column or prefix among `present`, the name itself."""
    known = sorted(set(present))
    columns: list[str] = []
    for name in asked:
        below = [c for c in known if c.startswith(name + ".")]
        found = [name] if name in known or not below else below
        columns.extend(c for c in found if c not in columns)
    return columns

"""Likely mistakes in a query, said as warnings: the answer itself never changes.

A JMESPath field that no record has is null, and a comparison with null is simply
false, so `[?vars.lr > \\`0.1\\`]` over runs that have `vars.LR`, or `[?status==failed]`
(a field named `failed`, not the text), answers "nothing" without a word. Each warning
here names the probable fix. Field names are checked against the records as written,
at any depth; a record's own fields are the record schema's, so no record is read whole
to find them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cache
from typing import Any

from expman.store import record
from expman.store.query import Query
from expman.store.recordtable import Rows

Path = tuple[str, ...]
_ABSENT = object()


def warnings(
    query: Query, records: Sequence[Any], whole: Callable[[], Sequence[Any]] | None = None
) -> list[str]:
    """What looks wrong in `query`, evaluated over each of `records` (or over their array,
    whose filters and projections reach each record): one sentence per mistake. With no
    record, nothing is said: "nothing" is then the answer. `whole` gives the records
    holding every field `query` names, where `records` may not (`Query.columns`): asked
    only when a path is missing, to look for another spelling."""
    found: list[str] = []
    if not records:
        return found
    for path in _unique(_paths(query.tree())):
        if not _anyone_has(records, path):
            if whole is not None:
                records, whole = whole(), None
            better = _other_case(records, path)
            if better is not None:
                found.append(f"no run has {_dotted(path)}: did you mean {_dotted(better)}?")
    for name in _unique(_compared_names(query.tree())):
        if name in _record_fields() or _anyone_has(records, (name,)):
            continue
        if _other_case(records, (name,)) is None:
            found.append(
                f"{name} is no field of any run, so it is null here: "
                f"did you mean the text '{name}'?"
            )
    return found


def unsorted(option: str, query: Query, keys: Sequence[Any]) -> str | None:
    """When no record gives `query` (the expression of `option`) a value: the sentence."""
    if not keys or any(key is not None for key in keys):
        return None
    return f"{option} {query.text}: no run has it, so the runs are in id order"


def _unique(paths: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(paths))


def _dotted(path: Path) -> str:
    return ".".join(path)


def _paths(node: Any) -> Iterator[Path]:
    """Every run of field names joined by dots (`vars.lr`, `id`), outermost first."""
    if not isinstance(node, dict):
        return
    chain = _chain(node)
    if chain is not None:
        yield chain
        return
    for child in node.get("children", []):
        yield from _paths(child)


def _chain(node: dict[str, Any]) -> Path | None:
    if node.get("type") == "field" and isinstance(node.get("value"), str):
        return (node["value"],)
    if node.get("type") == "subexpression":  # `a.b.c`: two children or more
        parts = [_chain(child) for child in node.get("children", [])]
        if parts and all(part is not None for part in parts):
            return tuple(name for part in parts if part is not None for name in part)
    return None


def _compared_names(node: Any) -> Iterator[str]:
    """The bare names compared with something: `failed` in `status==failed`."""
    if not isinstance(node, dict):
        return
    children = node.get("children", [])
    if node.get("type") == "comparator":
        for side in children:
            if isinstance(side, dict) and side.get("type") == "field":
                yield str(side["value"])
    for child in children:
        yield from _compared_names(child)


def _anyone_has(records: Sequence[Any], path: Path) -> bool:
    known = records.reaches(path) if isinstance(records, Rows) else None
    return any(_value(r, path) is not _ABSENT for r in records) if known is None else known


def _value(data: Any, path: Path) -> Any:
    for name in path:
        if not isinstance(data, dict):
            return _ABSENT
        data = data.get(name, _ABSENT)
        if data is _ABSENT:
            return _ABSENT
    return data


def _other_case(records: Sequence[Any], path: Path) -> Path | None:
    """The path some record has when letter case is ignored, if one does."""
    fields = [n for n in _record_fields() if n.casefold() == path[0].casefold()]
    for data in records if fields else ():
        for name in fields:
            rest = _spelled(data.get(name, _ABSENT), path[1:])
            if rest is not None and (name, *rest) != path:
                return (name, *rest)
    return None


def _spelled(data: Any, path: Path) -> Path | None:
    if not path:
        return None if data is _ABSENT else ()
    if not isinstance(data, dict):
        return None
    for name in data:
        if name.casefold() == path[0].casefold():
            rest = _spelled(data[name], path[1:])
            if rest is not None:
                return (name, *rest)
    return None


@cache
def _record_fields() -> tuple[str, ...]:
    schema = json.loads(record.SCHEMA_PATH.read_text(encoding="utf-8"))
    return tuple(schema["properties"])

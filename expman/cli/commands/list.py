"""`expman list`: one row per run (id, status, start, duration, hypothesis)."""

from __future__ import annotations

import itertools
import json
import re
import shutil
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from expman import formats
from expman.cli.commands.query import report_damaged, report_mistakes
from expman.output import style
from expman.store import index, mistakes
from expman.store.archive import RECORD, Archive, Damaged, read_record
from expman.store.query import Query, truthy
from expman.text import split_commas

_FIELDS = ("id", "status", "started", "started_epoch", "ended_epoch", "duration", "hypothesis")
_COLOURS = {"succeeded": "green", "failed": "red", "interrupted": "yellow", "running": "cyan"}
_SUMMARY = ("last", "min", "max")  # of a metric series' summary, what a column shows
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def list_runs(
    *,
    archive: Path,
    where: str | None,
    sort: str | None,
    reverse: bool,
    limit: int | None,
    fmt: str,
    streams: tuple[TextIO, TextIO],
    columns: Sequence[str] = (),
    tags: Sequence[str] = (),
) -> int:
    """Print the runs that have every one of `tags` and match `where`, ordered by `sort`
    (or by id), `reverse`d, with the chosen `columns` (JMESPath expressions on each
    record) before the hypothesis."""
    out, err = streams
    condition = Query(where) if where else None
    order = Query(sort) if sort else None
    extra = [Query(text) for given in columns for text in split_commas(given)]
    fields = set(_FIELDS) | ({"tags"} if tags else set())
    for compiled in (condition, order, *extra):
        if compiled is not None:
            fields |= compiled.fields()
    store = Archive(archive)
    if limit is not None and not (tags or condition or order):
        # The first or last `limit` runs: only their records are read, however many
        # runs the archive holds (`list --reverse --limit 10` stays as quick at 100,000).
        records, damaged = _ends(store, limit, reverse)
        reverse = False  # already in the order asked for
    else:
        records, damaged = index.load(store, fields)
    report_damaged(damaged, err)
    found = [m for q in (condition, order, *extra) if q for m in mistakes.warnings(q, records)]
    if tags:
        records = [r for r in records if set(tags) <= set(r.get("tags") or [])]
    if condition is not None:
        records = [r for r in records if truthy(condition.search(r))]
    if order is not None:
        keys = [order.search(r) for r in records]
        unsorted = mistakes.unsorted("--sort", order, keys)
        found += [unsorted] if unsorted else []
        known = [i for i in range(len(records)) if keys[i] is not None]
        ranked = sorted(known, key=lambda i: _sort_key(keys[i]), reverse=reverse)
        missing = [i for i in range(len(records)) if keys[i] is None]
        records = [records[i] for i in ranked + missing]  # ties in id order; no key: last
    elif reverse:
        records.reverse()
    report_mistakes(list(dict.fromkeys(found)), err)
    if limit is not None:
        records = records[:limit]
    if order is not None and order.text not in {q.text for q in extra}:
        extra.append(order)  # what the rows are ordered by is shown
    if fmt != "json":  # JSON holds mappings as they are
        extra = [part for column in extra for part in _spread(column, records)]
    rows = [_row(r, extra) for r in records]
    if fmt == "table":
        header = ["id", "status", "started", "duration", *(q.text for q in extra), "hypothesis"]
        shown = [[formats.short(r[key]) for key in header] for r in rows]

        def paint(column: int, text: str) -> str:
            colour = _COLOURS.get(text.strip())
            return style(text, colour, out) if column == 1 and colour else text

        on_terminal = bool(getattr(out, "isatty", bool)())
        width = shutil.get_terminal_size().columns if on_terminal else None
        out.write(formats.table(header, shown, paint, width=width))
    else:
        out.write(formats.render(rows, fmt, terminal=bool(getattr(out, "isatty", bool)())))
    return 0


_SPREAD_DEPTH = 8  # levels of keys a column is spread over: deeper mappings are one cell


def _spread(column: Query, records: list[Any], depth: int = _SPREAD_DEPTH) -> list[Query]:
    """A column whose values are mappings (`metrics`, `series`) as one column per key,
    nested ones too (`series.loss.last`, `.min`, `.max`), down to `depth` levels of keys
    (a record nested 900 deep is no 900-key path); any other as it is."""
    if depth == 0:
        return [column]
    values = []
    for record in records:
        value = column.search(record)
        if value is not None and not isinstance(value, dict):
            return [column]
        values.append(value or {})
    keys = list(dict.fromkeys(k for v in values for k in v))
    if not keys:
        return [column]
    if set(_SUMMARY) <= set(keys) and "count" in keys:
        keys = list(_SUMMARY)
    parts = [Query(f"{column.text}.{_field(key)}") for key in keys]
    return [spread for part in parts for spread in _spread(part, records, depth - 1)]


def _field(key: str) -> str:
    """`acc`, or `"epochs to 0.35"` quoted when JMESPath needs it."""
    return key if _IDENTIFIER.match(key) else json.dumps(key)


def _ends(store: Archive, limit: int, reverse: bool) -> tuple[list[Any], list[Damaged]]:
    """The first `limit` readable records in id order (the last ones, newest first, with
    `reverse`), and the damaged ones met on the way."""
    records: list[Any] = []
    damaged: list[Damaged] = []
    nearest = store.end_ids(limit + 16, newest=reverse)  # room for a few damaged ones
    ids: Iterable[str] = nearest
    if len(nearest) == limit + 16:  # more runs than those: the rest, should they be needed
        ids = itertools.chain(nearest, _after(store, nearest, reverse))
    for run_id in ids:
        if len(records) >= limit:
            break
        try:  # as the record cache reads it, so that the same runs are said damaged
            records.append(read_record(store.run_dir(run_id) / RECORD))
        except ValueError as e:
            damaged.append(Damaged(run_id, store.run_dir(run_id), str(e)))
    return records, damaged


def _after(store: Archive, seen: list[str], reverse: bool) -> Iterator[str]:
    """The ids after `seen`, in the same order (read only when many runs are damaged)."""
    ordered = store.ids()[::-1] if reverse else store.ids()
    yield from ordered[len(seen) :]


def _sort_key(value: Any) -> tuple[int, Any]:
    """Numbers by value, before anything else, which goes by its JSON text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value)
    return (1, value if isinstance(value, str) else json.dumps(value, sort_keys=True))


def _row(record: dict[str, Any], extra: list[Query]) -> dict[str, Any]:
    started = record.get("started") or ""
    row = {
        "id": record.get("id"),
        "status": record.get("status"),
        "started": started[:19].replace("T", " "),
        "duration": formats.duration(record.get("duration")),
    }
    for column in extra:
        row[column.text] = column.search(record)
    row["hypothesis"] = _first_line(record.get("hypothesis"))
    return row


def _first_line(text: Any) -> str:
    lines = text.strip().splitlines() if isinstance(text, str) else []
    return lines[0] if lines else ""

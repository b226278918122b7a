"""`expman query`: a JMESPath expression over the array of all records, oldest first."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from expman import formats
from expman.errors import QueryError
from expman.output import printable, style, write_line
from expman.store import index, mistakes
from expman.store.archive import Archive, Damaged
from expman.store.query import Query


def query(*, archive: Path, expression: str, fmt: str, streams: tuple[TextIO, TextIO]) -> int:
    """Print the result; a bad expression is a `QueryError` (exit 2)."""
    out, err = streams
    compiled = Query(expression)
    store = Archive(archive)
    records, damaged = index.load_table(store, *compiled.columns())
    report_damaged(damaged, err)
    result = compiled.search_table(records)

    def whole() -> Sequence[Any]:  # every field named: only to find another spelling
        return index.load_table(store, compiled.fields())[0].one_by_one()

    report_mistakes(mistakes.warnings(compiled, records.one_by_one(), whole), err)
    try:
        text = formats.render(result, fmt, terminal=bool(getattr(out, "isatty", bool)()))
    except TypeError as e:  # `&id` alone: an expression reference is no JSON value
        raise QueryError(
            f"{expression!r} gives an expression reference (&...), which is no JSON value: "
            "it is an argument of functions such as sort_by(array, &key)"
        ) from e
    out.write(text)
    return 0


def report_damaged(damaged: list[Damaged], err: TextIO) -> None:
    """One warning per run whose record cannot be read; the others are still answered."""
    for bad in damaged:
        write_line(err, style(printable(f"expman: skipped {bad.reason}"), "yellow", err))


def report_mistakes(found: list[str], err: TextIO) -> None:
    """The likely mistakes of a query, as warnings: its answer stays as it is."""
    for sentence in found:
        write_line(err, style(printable(f"expman: warning: {sentence}"), "yellow", err))

"""Tables and runs as HTML for notebooks, every text escaped as the report escapes it:
control characters made visible (`output.printable`), then HTML-escaped."""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

from expman.formats import cell
from expman.output import printable

SHOWN_ROWS = 60  # a notebook shows the first and last rows of a longer table


def text(value: Any) -> str:
    """One value as HTML text: as a table cell of `expman query --format table` shows it."""
    return html.escape(printable(cell(value)))


def table(columns: list[str], rows: list[list[Any]]) -> str:
    """An HTML table; past `SHOWN_ROWS` rows, the first and last halves and how many
    are left out."""
    head = "".join(f"<th>{text(c)}</th>" for c in columns)
    half = SHOWN_ROWS // 2
    shown = rows if len(rows) <= SHOWN_ROWS else [*rows[:half], None, *rows[-half:]]
    body = []
    for row in shown:
        if row is None:
            left_out = len(rows) - 2 * half
            body.append(f'<tr><td colspan="{len(columns)}">... {left_out} more rows</td></tr>')
        else:
            body.append("<tr>" + "".join(f"<td>{text(v)}</td>" for v in row) + "</tr>")
    size = f"<p>{len(rows)} rows x {len(columns)} columns</p>"
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{size}"


def fields(title: str, cells: dict[str, Any], files: Iterable[str]) -> str:
    """A run: a title, its cells as name/value rows, then its files."""
    rows = "".join(f"<tr><th>{text(k)}</th><td>{text(v)}</td></tr>" for k, v in cells.items())
    listed = "".join(f"<li>{text(name)}</li>" for name in files)
    return f"<h4>{text(title)}</h4><table>{rows}</table>" + (
        f"<p>files</p><ul>{listed}</ul>" if listed else ""
    )

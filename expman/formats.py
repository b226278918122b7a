"""Query results as text: JSON (pretty or compact), an aligned table, or CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

FORMATS = ("json", "table", "csv")


def render(value: Any, fmt: str, pretty: bool) -> str:
    """`value` in format `fmt`, ending with a newline."""
    if fmt == "json":
        if pretty:
            return json.dumps(value, indent=2, ensure_ascii=False) + "\n"
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n"
    header, rows = _rows(value)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        return buffer.getvalue()
    return table(header, rows)


def table(
    header: list[str],
    rows: list[list[str]],
    paint: Callable[[int, str], str] | None = None,
) -> str:
    """Columns aligned with two spaces between them. `paint(column, padded cell)` may
    colour body cells: it is applied after padding, so escape codes do not misalign."""
    if not header:
        return ""
    widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    for line in rows:
        cells = [c.ljust(w) for c, w in zip(line, widths, strict=True)]
        if paint is not None:
            cells = [paint(column, c) for column, c in enumerate(cells)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def cell(value: Any) -> str:
    """One value as table or CSV text: null as empty, nested values as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _rows(value: Any) -> tuple[list[str], list[list[str]]]:
    items = value if isinstance(value, list) else [value]
    if items and all(isinstance(item, dict) for item in items):
        header: list[str] = []
        for item in items:
            header.extend(key for key in item if key not in header)
        return header, [[cell(item.get(key)) for key in header] for item in items]
    return ["value"], [[cell(item)] for item in items]


def duration(seconds: Any) -> str:
    """Seconds as 4.2s, 3m05s or 2h07m; "-" when unknown."""
    if not isinstance(seconds, int | float):
        return "-"
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{seconds:.1f}s"

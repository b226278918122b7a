"""Query results as text: JSON (pretty or compact), JSON lines, an aligned table, or CSV.

Every format is strict: a number JSON cannot hold (NaN, an infinity) is the text records
hold for it (`jsontext.strict`). What is for people is safe to show: the table escapes
control characters (`output.printable`), JSON writes them as `\\u` escapes (the same
value), and CSV, which is data, keeps every character but on a terminal.
"""

from __future__ import annotations

import io
import json
import math
import unicodedata
from collections.abc import Callable
from typing import Any

from expman import jsontext
from expman.output import printable, printable_json

FORMATS = ("json", "jsonl", "table", "csv")


def render(value: Any, fmt: str, terminal: bool) -> str:
    """`value` in format `fmt`, ending with a newline; `terminal`: for a person to read
    there (JSON indented, CSV escaped as a table is)."""
    if fmt == "json":
        return json_text(value, pretty=terminal)
    if fmt == "jsonl":  # one element of an array per line (DuckDB's, pandas' `lines=True`)
        items = value if isinstance(value, list) else [value]
        return "".join(json_text(item, pretty=False) for item in items)
    header, rows = _rows(value)
    if fmt == "csv":
        import csv  # here: every command imports this module, few write CSV

        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        return printable(buffer.getvalue()) if terminal else buffer.getvalue()
    return table(header, rows)


def json_text(value: Any, pretty: bool) -> str:
    """`value` as strict JSON (RFC 8259) that is safe on a terminal, ending with a newline."""
    return _json(value, pretty) + "\n"


def table(
    header: list[str],
    rows: list[list[str]],
    paint: Callable[[int, str], str] | None = None,
    width: int | None = None,
) -> str:
    """Columns aligned with two spaces between them, every cell `printable`.
    `paint(column, padded cell)` may colour body cells: it is applied after padding, so
    escape codes do not misalign. With `width` (a terminal's), a longer line is cut to
    it, ending with `…`."""
    if not header:
        return ""
    header = [printable(h) for h in header]
    rows = [[printable(c) for c in line] for line in rows]
    widths = [max(columns(line[i]) for line in [header, *rows]) for i in range(len(header))]
    lines = []
    for number, line in enumerate([header, *rows]):
        padded = [c + " " * (w - columns(c)) for c, w in zip(line, widths, strict=True)]
        cells = _fitted(padded, width)
        if paint is not None and number > 0:
            cells = [paint(column, c) for column, c in enumerate(cells)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def _fitted(cells: list[str], width: int | None) -> list[str]:
    """The padded cells of a line, cut after `width - 1` columns of the terminal and ended
    with `…` when the line takes more than `width`."""
    if width is None or columns("  ".join(cells).rstrip()) <= width:
        return cells
    kept: list[str] = []
    start = 0
    for text in cells:
        if start + columns(text) > width - 1:
            room = width - 1 - start
            return [*kept, _cut(text, room) + "…"] if room >= 0 else kept
        kept.append(text)
        start += columns(text) + 2
    return kept


def columns(text: str) -> int:
    """The columns `text` takes on a terminal: two for a wide character (Chinese,
    Japanese, Korean, most emoji), none for a combining mark, one for any other."""
    if text.isascii():
        return len(text)
    return sum(_column_width(c) for c in text)


def _column_width(char: str) -> int:
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _cut(text: str, room: int) -> str:
    """The longest start of `text` taking at most `room` columns (a wide character is
    never halved)."""
    if text.isascii():
        return text[:room]
    taken = 0
    for position, char in enumerate(text):
        taken += _column_width(char)
        if taken > room:
            return text[:position]
    return text


def cell(value: Any) -> str:
    """One value as table or CSV text: null as empty, nested values as compact strict
    JSON, a number JSON cannot hold as its text."""
    if value is None:
        return ""
    if isinstance(value, float):
        value = jsontext.number(value)
    if isinstance(value, str):
        return value
    return _json(value, pretty=False)


def short(value: Any) -> str:
    """`cell`, for a person to read: a float to 4 significant digits (0.1235, 12346,
    1.235e-05); exact values stay in `query`, `--format csv|json` and `show --json`."""
    if isinstance(value, float) and math.isfinite(value) and value != 0:
        magnitude = math.floor(math.log10(abs(value)))
        if -5 <= magnitude < 6:
            text = f"{value:.{max(0, 3 - magnitude)}f}"
            return text.rstrip("0").rstrip(".") if "." in text else text
        return f"{value:.3e}"
    return cell(value)


def _json(value: Any, pretty: bool) -> str:
    """Strict JSON: numbers it cannot hold as `jsontext.strict` text; control and
    bidirectional characters as `\\u` escapes (`printable_json`)."""
    indent, separators = (2, None) if pretty else (None, (",", ":"))
    try:
        text = json.dumps(
            value, ensure_ascii=False, allow_nan=False, indent=indent, separators=separators
        )
    except ValueError:  # NaN or an infinity in it: rare, so looked for only then
        return _json(jsontext.strict(value), pretty)
    return printable_json(text)


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

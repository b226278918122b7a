"""The report as one self-contained HTML file: the page, its scripts and its data inline.

Everything it needs is in the file: uPlot (shipped in `static/`, with its licence), the
page's own script and styles, and the data as JSON. A Content-Security-Policy forbids
every request, so the page cannot reach the network even by mistake. Writing is atomic
(`--watch` rewrites the file while a browser may be reading it).
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from expman import __version__, fsutil

STATIC = Path(__file__).parent / "static"
_MARK = re.compile(r"@@([A-Z_]+)@@")


def render(data: dict[str, Any], title: str, refresh: float | None = None) -> bytes:
    """The page's bytes; the same data gives the same bytes. With `refresh`, the page
    reloads itself every that many seconds (`--watch`)."""
    runs = data["runs"]
    info = f"{len(runs)} run{'s' if len(runs) != 1 else ''} · archive {data['archive']}"
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # Inside <script>, "</" could end the element: JSON may write "<" as \u003c.
    text = text.replace("<", "\\u003c")
    parts = {
        "VERSION": html.escape(__version__),
        "TITLE": html.escape(title),
        "INFO": html.escape(info),
        "REFRESH": f'<meta http-equiv="refresh" content="{refresh:g}">\n' if refresh else "",
        "UPLOT_CSS": _static("uPlot.min.css"),
        "REPORT_CSS": _static("report.css"),
        "UPLOT_JS": _static("uPlot.iife.min.js"),
        "REPORT_JS": _static("report.js"),
        "DATA": text,
    }
    page = _MARK.sub(lambda m: parts[m.group(1)], _static("page.html"))
    return page.encode("utf-8")


def write(path: Path, page: bytes) -> None:
    """Replace the report at `path` in one step."""
    fsutil.write_atomic(path, page, sync=False)


def _static(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")

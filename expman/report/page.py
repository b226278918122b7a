"""The report as one self-contained HTML file: the page, its scripts and its data inline.

Everything it needs is in the file: uPlot (shipped in `static/`, with its licence), the
page's own script and styles, and the data as JSON. A Content-Security-Policy forbids
every request, so the page cannot reach the network even by mistake, and lets run only
the page's two scripts, named by their SHA-256: no other script, no inline event handler
and no `javascript:` URL, whatever text the records hold. Writing is atomic (`--watch`
rewrites the file while a browser may be reading it).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import re
from pathlib import Path
from typing import Any

from expman import __version__, fsutil
from expman.output import printable, printable_json

STATIC = Path(__file__).parent / "static"
_MARK = re.compile(r"@@([A-Z_]+)@@")


def render(data: dict[str, Any], title: str, refresh: float | None = None) -> bytes:
    """The page's bytes; the same data gives the same bytes. With `refresh`, the page
    reloads itself every that many seconds (`--watch`)."""
    runs = data["runs"]
    info = f"{len(runs)} run{'s' if len(runs) != 1 else ''} · archive {data['archive']}"
    options: dict[str, Any] = {
        "sort_keys": True,
        "separators": (",", ":"),
        "ensure_ascii": False,
        "allow_nan": False,
    }
    try:
        text = json.dumps(data, **options)
    except ValueError:  # Infinity or NaN somewhere: rare, so looked for only then
        text = json.dumps(_json_numbers(data), **options)
    # Inside <script>, "</" could end the element: JSON may write "<" as \u003c (and
    # lone surrogates, which UTF-8 cannot hold, as \u escapes too).
    text = printable_json(text.replace("<", "\\u003c"))
    scripts = {name: _static(name) for name in ("uPlot.iife.min.js", "report.js")}
    parts = {
        "SCRIPT_HASHES": " ".join(_hash(script) for script in scripts.values()),
        "VERSION": html.escape(__version__),
        "TITLE": html.escape(printable(title)),
        "INFO": html.escape(info),
        "REFRESH": f'<meta http-equiv="refresh" content="{refresh:g}">\n' if refresh else "",
        "UPLOT_CSS": _static("uPlot.min.css"),
        "REPORT_CSS": _static("report.css"),
        "UPLOT_JS": scripts["uPlot.iife.min.js"],
        "REPORT_JS": scripts["report.js"],
        "DATA": text,
    }
    page = _MARK.sub(lambda m: parts[m.group(1)], _static("page.html"))
    return page.encode("utf-8")


def _json_numbers(value: Any) -> Any:
    """`value` with each float JSON has no number for (`Infinity`, `NaN`: Python reads
    them in a record, or a sum of huge values makes one) as its text: the page's
    `JSON.parse` would refuse the whole report."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value).replace("inf", "Infinity").replace("nan", "NaN")
    if isinstance(value, dict):
        return {key: _json_numbers(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_numbers(item) for item in value]
    return value


def write(path: Path, page: bytes) -> None:
    """Replace the report at `path` in one step."""
    fsutil.write_atomic(path, page, sync=False)


def _hash(script: str) -> str:
    """The CSP source that allows this inline script and no other."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def _static(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")

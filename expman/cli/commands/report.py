"""`expman report [-o FILE] [--where EXPR] [--watch]`: the runs as one offline HTML page.

With `--watch`, the page is written again whenever what it shows changed (checked every
`every` seconds) and reloads itself in the browser; Ctrl-C writes it a last time without
the reload, and ends the command.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TextIO

from expman.output import write_line
from expman.report import data, page
from expman.store.archive import Archive

REFRESH_SECONDS = 3.0  # how often a page written by --watch reloads itself


def report(
    *, archive: Path, output: Path, where: str | None, watch: bool, every: float, out: TextIO
) -> int:
    """Write the report; with `watch`, keep it current until interrupted."""
    store = Archive(archive)
    if not watch:
        written = _write(store, output, where, refresh=None, previous=None)
        write_line(out, f"report: {_count(written)} → {output}")
        return 0
    previous = None
    try:
        while True:
            previous = _write(store, output, where, refresh=REFRESH_SECONDS, previous=previous)
            if previous[1]:
                write_line(
                    out, f"{time.strftime('%H:%M:%S')} report: {_count(previous)} → {output}"
                )
                out.flush()
            time.sleep(every)
    except KeyboardInterrupt:
        final = _write(store, output, where, refresh=None, previous=None)
        write_line(out, f"report: {_count(final)} → {output} (no longer reloading)")
        return 0


def _write(
    store: Archive,
    output: Path,
    where: str | None,
    refresh: float | None,
    previous: tuple[bytes, bool, int] | None,
) -> tuple[bytes, bool, int]:
    """(the page, whether it was written now, how many runs it shows)."""
    found = data.gather(store, where, output.parent)
    experiments = sorted({str(r.get("experiment") or "") for r in found["runs"]} - {""})
    title = "expman report" + (f": {', '.join(experiments)}" if experiments else "")
    rendered = page.render(found, title, refresh)
    changed = previous is None or previous[0] != rendered
    if changed:
        page.write(output, rendered)
    return rendered, changed, len(found["runs"])


def _count(written: tuple[bytes, bool, int]) -> str:
    runs = written[2]
    return f"{runs} run{'s' if runs != 1 else ''}, {len(written[0]) / 1e6:.2f} MB"

"""Ending a run: archiving its outputs, recording its observations and final status,
preparing the experiment for the next run. Every run ends through `close`: `expman end`
directly, a run in a workspace (a sweep point, `rerun`) through `close_workspace_run`.

The order makes a crash at any point harmless, and closing again finishes the job:
outputs are linked into the archive, the record is written (now `ended`), and only then
is `outputs/` emptied, the expfile's observations cleared and the run closed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from expman.errors import UsageError
from expman.observe import metrics, series
from expman.running import outputs
from expman.running.openrun import mark_closed, open_record, refuse_if_queued, repair
from expman.running.outputs import OUTPUTS
from expman.running.state import State
from expman.store import record
from expman.store.archive import Archive


def close(
    root: Path,
    observations: Callable[[record.Record], str],
    clear: Callable[[], None],
    err: TextIO,
    ending: Callable[[record.Record], None] | None = None,
) -> tuple[Archive, record.Record]:
    """End the open run of the experiment at `root` (or finish an interrupted end):
    `observations(run)` gives its observations, `clear()` is called once they are recorded
    and the outputs archived. `ending(run)` adds what the caller knows of the ended run
    to it, in the one write that ends it."""
    state = State(root)
    with state.lock("end"):
        repair(root)
        found = open_record(root, include_ended=True)
        if found is None:
            raise UsageError("no open run to end: `expman run` or `expman start` opens one")
        archive, run = found
        if run["ended"] is None:
            refuse_if_queued(run)
            written = observations(run)
            run_dir = archive.run_dir(run["id"])
            earlier = outputs.earlier(archive, run["id"])
            stored = outputs.archive(
                root, archive.objects, run_dir / OUTPUTS, run["id"], err, earlier
            )
            attempt = record.current_attempt(run) if run["attempts"] else {}
            if run.get("metrics") is None and attempt.get("metrics_error") is None:
                # Its runner died before it read them (or never ran): read them now.
                run["metrics"] = attempt["metrics"] = _metrics(root, run_dir)
            record.end(run, written, stored, time.time())
            if ending is not None:
                ending(run)
            archive.write(run)
        series.discard(archive.run_dir(run["id"]))  # when a crash left it
        outputs.empty(root)
        clear()
        mark_closed(state, archive, run)
    return archive, run


def close_workspace_run(
    inside: Path,
    observations: str,
    err: TextIO,
    ending: Callable[[record.Record], None] | None = None,
) -> record.Record:
    """End the open run of a workspace's experiment folder `inside` with `observations`
    (or finish its interrupted end); its ended record (`ending`: see `close`). The
    workspace's expfile is its own, so there are no observations in it to clear."""

    def written(run: record.Record) -> str:
        return observations

    def nothing_to_clear() -> None:
        """The workspace's expfile goes with the workspace."""

    _, ended = close(inside, written, nothing_to_clear, err, ending)
    return ended


def _metrics(root: Path, run_dir: Path) -> Any:
    """The metrics the run's own expfile names (a metrics file archived with the outputs
    included), or None."""
    try:
        text = (run_dir / "expfile.yaml").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if "metrics" not in text:
        return None  # it names none (most runs: then YAML, slow to import, is not needed)
    from expman.expfile import yamlnodes

    try:
        node = yamlnodes.compose(text)
    except yamlnodes.SyntaxProblem:
        return None
    snapshot = yamlnodes.construct(node) if node is not None else None
    name = snapshot.get("metrics") if isinstance(snapshot, dict) else None
    if not isinstance(name, str):
        return None
    for candidate in (root / name, run_dir / name):
        if candidate.is_file():
            try:
                return metrics.read(candidate, name)
            except metrics.MetricsError:
                return None
    return None

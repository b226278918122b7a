"""The runs in flight of an archive, read from its files alone.

An open run has a marker in the archive (`.open/UID.json`); its record says its status
and the step being run, its heartbeat whether whatever runs it is alive, and the end of
its series file the latest metric values. Nothing here asks a process or a scheduler, so
it works as well on a laptop that received the archive by rsync. Nothing here writes.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expman.errors import ArchiveError
from expman.observe import heartbeat, resources, series, seriesreader
from expman.store import record
from expman.store.archive import Archive

TREND_POINTS = 24  # values per metric kept for the trend
IN_FLIGHT = (record.RUNNING, record.QUEUED)  # an open run that is started but not run is not


@dataclass
class Flight:
    """One run in flight, as its files tell it."""

    run: Mapping[str, Any]
    run_dir: Path
    beat: dict[str, Any] | None
    stale: bool
    step: str | None  # the step being run, if one is
    elapsed: float  # seconds since the current attempt started (by the reader's clock)
    trend: dict[str, list[float]] = field(default_factory=dict)  # latest values, oldest first

    @property
    def state(self) -> str:
        """`running`, `stale` (overdue heartbeat), or the record's status (`started`, ...)."""
        status = str(self.run.get("status"))
        if status == record.RUNNING and self.stale:
            return "stale"
        return status


def in_flight(archive: Archive, sweep: str | None = None, now: float | None = None) -> list[Flight]:
    """The runs of the archive being run or queued (of one sweep when `sweep` is given)."""
    now = time.time() if now is None else now
    found: list[Flight] = []
    for marker in archive.open_markers():
        run_id = marker.get("id")
        if not isinstance(run_id, str):
            continue
        try:
            run = archive.read(run_id)
        except ArchiveError:
            continue
        if run.get("uid") != marker.get("uid") or run.get("status") not in IN_FLIGHT:
            continue
        point = run.get("sweep")
        if sweep is not None and not (isinstance(point, dict) and point.get("id") == sweep):
            continue
        found.append(describe(archive, run, now))
    return sorted(found, key=lambda f: str(f.run.get("id")))


def describe(archive: Archive, run: Mapping[str, Any], now: float) -> Flight:
    """What the files say of one open run."""
    run_dir = archive.run_dir(str(run["id"]))
    beat = heartbeat.read(run_dir)
    attempts = run.get("attempts") or []
    attempt = attempts[-1] if attempts and isinstance(attempts[-1], dict) else {}
    started = attempt.get("started_epoch", run.get("started_epoch"))
    elapsed = max(0.0, now - started) if isinstance(started, int | float) else 0.0
    step = None
    for entry in attempt.get("stages") or []:
        if isinstance(entry, dict) and entry.get("status") == record.STEP_RUNNING:
            step = str(entry.get("name"))
    running = run.get("status") == record.RUNNING
    stale = heartbeat.overdue(beat, now - elapsed, now)
    return Flight(
        run=run,
        run_dir=run_dir,
        beat=beat,
        stale=running and stale,
        step=step,
        elapsed=elapsed,
        trend=_trend(run_dir) if running else {},
    )


WATCHED = ("sys/cpu_percent", "sys/rss_mb", "sys/gpu0_util")  # of the runner's samples


def _trend(run_dir: Path) -> dict[str, list[float]]:
    """The latest values of the stages' metrics, then of the most telling of the runner's
    samples (CPU, memory, the first GPU)."""
    found = seriesreader.tail(series.stream(run_dir), TREND_POINTS)
    used = seriesreader.tail(resources.stream(run_dir), TREND_POINTS, reserved=None)
    found.update((name, used[name]) for name in WATCHED if name in used)
    return found

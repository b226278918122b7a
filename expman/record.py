"""The run record (`run.json`) as data: created at start, updated at each state change.

Pure functions over plain dicts; `archive` writes them. Times are kept twice, as ISO 8601
text for people and as epoch seconds for comparisons in queries.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from expman import __version__
from expman.model import Config

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).parent / "run.schema.json"  # the record as a public format
Record = dict[str, Any]

# status of a run and of an attempt
STARTED, RUNNING, SUCCEEDED, FAILED, INTERRUPTED = (
    "started",
    "running",
    "succeeded",
    "failed",
    "interrupted",
)
# status of a step
STEP_RUNNING, RAN, SKIPPED, STEP_FAILED, NOT_RUN, STEP_INTERRUPTED = (
    "running",
    "ran",
    "skipped",
    "failed",
    "not-run",
    "interrupted",
)


def iso(epoch: float) -> str:
    """Epoch seconds as ISO 8601 text in UTC, to the millisecond."""
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new(config: Config, hypothesis: str | None, now: float | None = None) -> Record:
    """The record of a run that `start` opens (its id is set by the archive)."""
    now = time.time() if now is None else now
    return {
        "schema_version": SCHEMA_VERSION,
        "id": None,
        "uid": uuid.uuid4().hex,
        "experiment": config.name,
        "status": STARTED,
        "hypothesis": hypothesis if hypothesis is not None else config.hypothesis,
        "observations": "",
        "tags": list(config.tags),
        "vars": dict(config.vars),
        "overrides": {},
        "start_overrides": {},
        "env": {},
        "stages": [],
        "attempts": [],
        "code": None,
        "host": None,
        "scripts": [],
        "outputs": [],
        "metrics": None,
        "started": iso(now),
        "started_epoch": round(now, 3),
        "ended": None,
        "ended_epoch": None,
        "duration": None,
        "expman_version": __version__,
    }


def begin_attempt(record: Record, config: Config, snapshot: dict[str, Any], now: float) -> None:
    """Open a new attempt: the run is `running`, with the config this attempt sees."""
    attempt = {
        "number": len(record["attempts"]) + 1,
        "status": RUNNING,
        "started": iso(now),
        "started_epoch": round(now, 3),
        "ended": None,
        "ended_epoch": None,
        "overrides": dict(config.overrides),
        "stages": [],
        **snapshot,
    }
    record["attempts"].append(attempt)
    record.update(
        status=RUNNING,
        vars=dict(config.vars),
        overrides=dict(config.overrides),
        env=config.exported_env(),
        tags=list(config.tags),
        stages=attempt["stages"],
        code=snapshot.get("code"),
        host=snapshot.get("host"),
        scripts=snapshot.get("scripts", []),
    )


def current_attempt(record: Record) -> dict[str, Any]:
    """The attempt being run (the last one)."""
    attempt: dict[str, Any] = record["attempts"][-1]
    return attempt


def add_stage(record: Record, entry: dict[str, Any]) -> None:
    """Record one step's outcome in the current attempt."""
    current_attempt(record)["stages"].append(entry)
    record["stages"] = current_attempt(record)["stages"]


def finish_attempt(record: Record, status: str, metrics: Any, now: float) -> None:
    """Close the current attempt with its status; the run takes the same status."""
    attempt = current_attempt(record)
    attempt.update(status=status, ended=iso(now), ended_epoch=round(now, 3))
    record["status"] = status
    if metrics is not None:
        record["metrics"] = metrics


def runner_died(record: Record, stopped: int, now: float) -> None:
    """The process running the current attempt died without closing it."""
    attempt = current_attempt(record)
    for stage in attempt["stages"]:
        if stage["status"] == STEP_RUNNING:
            stage["status"] = STEP_INTERRUPTED
    note = "its runner died"
    if stopped:
        note += f"; {stopped} leftover process{'es' if stopped > 1 else ''} stopped"
    attempt.update(status=INTERRUPTED, ended=iso(now), ended_epoch=round(now, 3), note=note)
    record["status"] = INTERRUPTED


def end(record: Record, observations: str, outputs: list[dict[str, Any]], now: float) -> None:
    """Close the run: observations, archived outputs, final status and times."""
    if record["status"] in (STARTED, RUNNING):
        # Never ran, or its runner died: it was not finished, so it was interrupted.
        record["status"] = INTERRUPTED
        for attempt in record["attempts"]:
            if attempt["status"] == RUNNING:
                attempt["status"] = INTERRUPTED
    record.update(
        observations=observations,
        outputs=outputs,
        ended=iso(now),
        ended_epoch=round(now, 3),
        duration=round(now - record["started_epoch"], 3),
    )

"""The run record (`run.json`) as data: created at start, updated at each state change.

Pure functions over plain dicts; `archive` writes them. Times are kept twice, as ISO 8601
text for people and as epoch seconds for comparisons in queries.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from expman import __version__

if TYPE_CHECKING:  # the model's dataclasses cost every command that reads a record
    from expman.expfile.model import Config

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).parent / "run.schema.json"  # the record as a public format


# The record's shape (docs/records.md says each field; run.schema.json is the public
# format). A record read from disk is only known to hold `id` and `status` (`shape_problem`):
# every other key may be absent, so code reading one from disk uses `.get` for it.


class _FileKeys(TypedDict):
    path: str


class File(_FileKeys, total=False):
    """A file a record names with its hash: a script, a snapshot file, an output."""

    size: int
    sha256: str | None
    link: str


class Code(TypedDict, total=False):
    """The code version an attempt started from (`snapshot.CodeVersion.record`)."""

    commit: str | None
    branch: str | None
    dirty: bool
    patch: str | None
    omitted: list[str]
    error: str | None


class _StageKeys(TypedDict):
    name: str
    stage: str
    status: str


class Stage(_StageKeys, total=False):
    """One step of an attempt."""

    exit_code: int | None
    started: str | None
    started_epoch: float | None
    duration: float | None
    logs: list[str]
    reason: str
    error: str
    pid: int | None


class Resources(TypedDict, total=False):
    """What an attempt's processes used (`observe.resources.Sampler.summary`)."""

    cpu_seconds: float
    cpu_util_mean: float | None
    rss_peak_mb: float
    swap_peak_mb: float
    read_bytes: int
    write_bytes: int
    processes_peak: int
    samples: int
    every: float | None
    gpu: list[dict[str, Any]]
    error: str


class Backend(TypedDict, total=False):
    """Where an attempt ran: this machine, or a Slurm job (`slurm.environment.describe`,
    and what the submission said of the job)."""

    name: str
    host: str
    job_id: str | None
    job_name: str | None
    array_job_id: str | None
    array_index: int | None
    node: str
    partition: str | None
    cluster: str | None
    restarts: int
    granted: dict[str, Any]
    requested: dict[str, Any]
    script: str
    submitted: str
    submitted_epoch: float
    problem: str
    submit_failed: bool


class Snapshot(TypedDict, total=False):
    """What an attempt runs with, taken as it begins (`snapshot.take`)."""

    code: Code | None
    host: dict[str, Any] | None
    environment: dict[str, Any] | None
    scripts: list[File]
    snapshot: list[File]


class Attempt(Snapshot, total=False):
    """One attempt of a run: the snapshot it ran with, its steps and outcome."""

    number: int
    status: str
    started: str | None
    started_epoch: float
    ended: str | None
    ended_epoch: float | None
    duration: float | None
    overrides: dict[str, Any]
    stages: list[Stage]
    metrics: Any
    metrics_error: str | None
    series: dict[str, Any]
    series_error: str
    outputs: list[File]
    resources: Resources
    runner: dict[str, Any]
    backend: Backend
    leftovers: int
    note: str
    reason: str
    data_changed: list[str]


class _SweepKeys(TypedDict):
    id: str


class Sweep(_SweepKeys, total=False):
    """What a sweep's point says of its sweep (`sweepref` derives the sweep's own fields)."""

    index: int
    point: str
    gpus: str
    trial: dict[str, Any]
    pruned: dict[str, Any]
    name: str
    hypothesis: str
    observations: str


class Given(TypedDict, total=False):
    """What a run made for another purpose is given beyond `new`'s fields: a rerun its
    original, a sweep's point its sweep and vars."""

    rerun_of: dict[str, Any]
    sweep: Sweep
    start_overrides: dict[str, Any]


class _RecordKeys(TypedDict):
    """What every record holds, even one read from elsewhere (`shape_problem`)."""

    id: str  # empty until the archive gives the run its id
    status: str


class Record(_RecordKeys, Snapshot, Given, total=False):
    """The `run.json` document."""

    schema_version: int
    uid: str
    experiment: str
    hypothesis: str | None
    observations: str
    tags: list[str]
    recorded_tags: list[str]
    notes: list[dict[str, Any]]
    tag_changes: list[dict[str, Any]]
    vars: dict[str, Any]
    overrides: dict[str, Any]
    env: dict[str, str]
    stages: list[Stage]
    attempts: list[Attempt]
    outputs: list[File]
    metrics: Any
    series: dict[str, Any]
    resources: Resources
    backend: Backend
    origin: dict[str, Any]
    started: str
    started_epoch: float
    ended: str | None
    ended_epoch: float | None
    duration: float | None
    stages_duration: float
    expman_version: str


# status of a run and of an attempt
STARTED, RUNNING, SUCCEEDED, FAILED, INTERRUPTED = (
    "started",
    "running",
    "succeeded",
    "failed",
    "interrupted",
)
QUEUED = "queued"  # submitted to a scheduler (Slurm), not started yet
# status of a step
STEP_RUNNING, RAN, SKIPPED, STEP_FAILED, NOT_RUN, STEP_INTERRUPTED = (
    "running",
    "ran",
    "skipped",
    "failed",
    "not-run",
    "interrupted",
)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_LAST_MS = int(
    (datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=timezone.utc) - _EPOCH)
    / (timedelta(milliseconds=1))
)


def iso(epoch: float) -> str:
    """Epoch seconds as ISO 8601 text in UTC, to the millisecond (rounded, as `stamp` is).

    A clock far off (before 1970 or past 9999) gives the nearest instant that ISO 8601's
    four-digit years can say: a record is never refused for its clock.
    """
    ms = max(0, min(_LAST_MS, round(epoch * 1000))) if math.isfinite(epoch) else 0
    moment = _EPOCH + timedelta(milliseconds=ms)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def stamp(now: float) -> tuple[str, float]:
    """One instant as (ISO 8601 text, epoch seconds), both to the same millisecond."""
    epoch = round(now * 1000) / 1000 if math.isfinite(now) else 0.0
    return iso(epoch), epoch


def new(config: Config, hypothesis: str | None, now: float | None = None) -> Record:
    """The record of a run that `start` opens (its id is set by the archive)."""
    now = time.time() if now is None else now
    return {
        "schema_version": SCHEMA_VERSION,
        "id": "",  # the archive gives it
        "uid": new_uid(),
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
        "snapshot": [],
        "outputs": [],
        "metrics": None,
        "series": {},
        "started": stamp(now)[0],
        "started_epoch": stamp(now)[1],
        "ended": None,
        "ended_epoch": None,
        "duration": None,
        "stages_duration": 0.0,
        "expman_version": __version__,
    }


def begin_attempt(record: Record, config: Config, snapshot: Snapshot, now: float) -> None:
    """Open a new attempt: the run is `running`, with the config this attempt sees."""
    attempt: Attempt = {
        "number": len(record["attempts"]) + 1,
        "status": RUNNING,
        "started": stamp(now)[0],
        "started_epoch": stamp(now)[1],
        "ended": None,
        "ended_epoch": None,
        "duration": None,
        "overrides": dict(config.overrides),
        "stages": [],
        "metrics": None,
        "metrics_error": None,
        "series": {},
        "outputs": [],
        "code": snapshot.get("code"),
        "host": snapshot.get("host"),
        "environment": snapshot.get("environment"),
        "scripts": snapshot.get("scripts", []),
        "snapshot": snapshot.get("snapshot", []),
    }
    record["attempts"].append(attempt)
    record.update(
        {
            "status": RUNNING,
            "vars": dict(config.vars),
            "overrides": dict(config.overrides),
            "env": config.exported_env(),
            "tags": list(config.tags),
            "stages": attempt["stages"],
            "code": attempt["code"],
            "host": attempt["host"],
            "environment": attempt["environment"],
            "scripts": attempt["scripts"],
            "snapshot": attempt["snapshot"],
        }
    )


def current_attempt(record: Record) -> Attempt:
    """The attempt being run (the last one)."""
    return record["attempts"][-1]


def add_stage(record: Record, entry: Stage) -> None:
    """Record one step's outcome in the current attempt."""
    current_attempt(record)["stages"].append(entry)
    record["stages"] = current_attempt(record)["stages"]


def finish_attempt(
    record: Record,
    status: str,
    metrics: Any,
    now: float,
    leftovers: int = 0,
    metrics_error: str | None = None,
) -> None:
    """Close the current attempt with its status and metrics; the run takes both."""
    attempt = current_attempt(record)
    _close(attempt, status, now)
    attempt.update({"metrics": metrics, "metrics_error": metrics_error})
    if leftovers:
        attempt["leftovers"] = leftovers
    record["status"] = status
    record["metrics"] = metrics  # this attempt's, even none: never an earlier attempt's
    record["series"] = {}  # until `add_series`: never an earlier attempt's
    record.pop("resources", None)  # until `add_resources`: never an earlier attempt's
    record["stages_duration"] = stages_duration(record)


def set_backend(record: Record, backend: Backend) -> None:
    """Where the current attempt runs: the attempt keeps it, the run takes it (keeping
    what the submission said of a Slurm job: its name, when, what was asked)."""
    current_attempt(record)["backend"] = backend
    previous = backend_of(record)
    if backend.get("name") == "slurm" and previous.get("name") == "slurm":
        backend = {**previous, **backend}
    record["backend"] = backend


def backend_of(record: Mapping[str, Any]) -> Backend:
    """The record's `backend` (empty when it has none: records of earlier versions)."""
    found: Backend | None = record.get("backend")
    return found if isinstance(found, dict) else {}


def add_series(record: Record, summary: dict[str, Any], problem: str | None) -> None:
    """The current attempt's metric series, summarised; the run takes them (even none)."""
    attempt = current_attempt(record)
    attempt["series"] = summary
    if problem:
        attempt["series_error"] = problem
    record["series"] = summary


def add_resources(record: Record, used: Resources) -> None:
    """What the current attempt's processes used; the run takes it."""
    current_attempt(record)["resources"] = used
    record["resources"] = used


def data_changed(record: Record, names: list[str]) -> str:
    """The current attempt changed files its workspace shares (data is for reading):
    noted in the attempt, with the reason it failed; the reason."""
    shown = ", ".join(repr(name) for name in names[:5])
    more = f" and {len(names) - 5} more" if len(names) > 5 else ""
    reason = f"changed shared data: {shown}{more} (data is for reading)"
    attempt = current_attempt(record)
    attempt["data_changed"] = names
    attempt.setdefault("reason", reason)  # a Slurm job's interruption says why first
    return reason


def runner_died(record: Record, stopped: int, now: float) -> None:
    """The process running the current attempt died without closing it."""
    attempt = current_attempt(record)
    for stage in attempt["stages"]:
        if stage["status"] == STEP_RUNNING:
            stage["status"] = STEP_INTERRUPTED
    note = "its runner died"
    if stopped:
        note += f"; {stopped} leftover process{'es' if stopped > 1 else ''} stopped"
    _close(attempt, INTERRUPTED, now)
    attempt["note"] = note
    record["status"] = INTERRUPTED
    record["metrics"] = attempt.get("metrics")
    record["stages_duration"] = stages_duration(record)


def _close(attempt: Attempt, status: str, now: float) -> None:
    ended, ended_epoch = stamp(now)
    attempt.update(
        {
            "status": status,
            "ended": ended,
            "ended_epoch": ended_epoch,
            "duration": max(0.0, round(ended_epoch - attempt["started_epoch"], 3)),
        }
    )


def stages_duration(record: Record) -> float:
    """Seconds the steps of every attempt took to run (skipped steps take none)."""
    total = 0.0
    for attempt in record["attempts"]:
        for step in attempt["stages"]:
            duration = step.get("duration")
            if isinstance(duration, int | float):
                total += duration
    return round(total, 3)


def end(record: Record, observations: str, outputs: list[File], now: float) -> None:
    """Close the run: observations, archived outputs, final status and times."""
    if record["status"] in (STARTED, RUNNING, QUEUED):
        # Never ran, or its runner died: it was not finished, so it was interrupted.
        record["status"] = INTERRUPTED
        for attempt in record["attempts"]:
            if attempt["status"] == RUNNING:
                attempt["status"] = INTERRUPTED
    ended, ended_epoch = stamp(now)
    if record["attempts"]:
        current_attempt(record)["outputs"] = outputs
    record.update(
        {
            "observations": observations,
            "outputs": outputs,
            "ended": ended,
            "ended_epoch": ended_epoch,
            # A clock set back between start and end must not give a negative duration.
            "duration": max(0.0, round(ended_epoch - record["started_epoch"], 3)),
            "stages_duration": stages_duration(record),
        }
    )


def shape_problem(data: dict[str, Any]) -> str | None:
    """What keeps `data`, read from a run.json, from being a `Record` as the type promises
    (`status` text; the run's `id` is checked against its folder by the archive), or None."""
    if "status" not in data:
        return "'status' is missing"
    if not isinstance(data["status"], str):
        return f"'status' is {data['status']!r}, not text"
    return None


def problems(data: Any) -> list[str]:
    """How `data` fails `run.schema.json` (`$.path: message`), empty when it is a record."""
    import json

    import jsonschema  # here: only commands that show one record in full validate it

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    errors = jsonschema.Draft7Validator(schema).iter_errors(data)
    return sorted(f"{e.json_path}: {e.message}" for e in errors)


def new_uid() -> str:
    """A random UUID (version 4) as 32 hex digits, what `uuid.uuid4().hex` gives, without
    importing uuid (which imports platform: 3 ms of every command that writes one)."""
    data = bytearray(os.urandom(16))
    data[6] = (data[6] & 0x0F) | 0x40  # version 4
    data[8] = (data[8] & 0x3F) | 0x80  # the RFC 4122 variant
    return data.hex()

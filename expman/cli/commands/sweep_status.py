"""`expman sweep status`: a sweep's points as the archive, the claims and Slurm say them.

expman sweep status [s0003]

The table (one row a point: its vars, status, runs and metrics), the counts, and an
adaptive search's best trial so far; `expman sweep` shows the same table when its points
are done (`settle_and_show`). Before it shows, the writes any reader makes: dead runs
repaired, a point whose Slurm task ended without running it noted as interrupted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from expman import formats
from expman.cli.commands.show import outcome
from expman.errors import UsageError
from expman.expfile import location
from expman.output import printable, style, write_line
from expman.slurm.track import reconcile
from expman.store import index
from expman.store.archive import Archive
from expman.sweeps import plan, search_best, search_definition, search_trials
from expman.sweeps.search_definition import Search
from expman.sweeps.store import Sweeps, end_orphans


def sweep_status(*, path: Path, name: str | None, out: TextIO) -> int:
    """The points of a sweep (the last one by default): planned, done, failed, running."""
    root = path.parent
    archive = Archive(root / location.archive_setting(path))
    sweeps = Sweeps(archive)
    if not sweeps.ids():
        raise UsageError("no sweep yet: `expman sweep -s NAME=VALUES` starts one")
    sweep_id = sweeps.resolve(name or "last")
    settle_and_show(archive, sweeps, sweep_id, out)
    return 0


def settle_and_show(archive: Archive, sweeps: Sweeps, sweep_id: str, out: TextIO) -> None:
    """Bring the sweep's records up to date (`_settle`), then show its status table."""
    seen = _settle(archive, sweeps, sweep_id)
    searching = seen.searching
    best = best_so_far(archive, sweep_id, searching) if searching is not None else None
    unseen = _prune_metric_unseen(sweeps, sweep_id, seen)
    if unseen is not None:
        best = f"{best}\n{unseen}"
    write_line(out, _status_table(sweep_id, seen, best, out))


def _prune_metric_unseen(sweeps: Sweeps, sweep_id: str, seen: _Seen) -> str | None:
    """What to say when a search prunes by a series no ended trial reported (a name
    misspelt: no trial could be pruned, and nothing else would say so); else None."""
    pruning = seen.searching.prune if seen.searching is not None else None
    if pruning is None:
        return None
    ended = [i for i, runs in seen.runs.items() if runs and runs[-1].get("ended")]
    if not ended or any(sweeps.intermediate(sweep_id, i)["steps"] for i in ended):
        return None
    return (
        f"no ended trial logged the series {pruning.metric!r} that --prune-metric names: "
        "none could be pruned (a name misspelt?)"
    )


@dataclass(frozen=True)
class _Seen:
    """What the archive, the claims and Slurm say of a sweep's points, read once."""

    data: dict[str, Any]
    runs: dict[int, list[dict[str, Any]]]
    claimed: dict[int, dict[str, Any]]
    unstarted: dict[int, str]  # points whose Slurm task has not started them
    searching: Search | None
    told: dict[int, search_trials.Told]
    points: list[plan.Point]


def _settle(archive: Archive, sweeps: Sweeps, sweep_id: str) -> _Seen:
    """The writes before a sweep is shown: dead runs repaired (`reconcile`), and each
    point whose Slurm task ended without running it noted, once, as interrupted. What
    was seen, for the table."""
    from expman.sweeps.slurm import waiting

    data = sweeps.read(sweep_id)
    reconcile(archive)
    loaded, _ = index.load(archive, RUN_FIELDS)  # once for both: the records are read
    if end_orphans(archive, sweep_id, loaded):
        loaded, _ = index.load(archive, RUN_FIELDS)  # with the orphans ended
    searching = search_definition.stored(data["definition"])
    seen = _Seen(
        data=data,
        runs=runs_of(archive, sweep_id, loaded),
        claimed=dict(sweeps.claims(sweep_id).held()),
        unstarted=waiting(sweeps, sweep_id),
        searching=searching,
        told=search_trials.told(archive, sweep_id, searching) if searching is not None else {},
        points=sweeps.plan(sweep_id),
    )
    for point in seen.points:
        state = _point_state(point.index, seen)
        if _never_started(point.index, seen) and not state.startswith(("queued", "starting")):
            _note_unstarted(sweeps, sweep_id, point.index, state)  # its job is gone
    return seen


def _status_table(sweep_id: str, seen: _Seen, best: str | None, out: TextIO) -> str:
    """One row per point: index, vars, status, run, metrics; then the counts, and an
    adaptive search's `best`. A view: it writes nothing."""
    rows: list[list[str]] = []
    counts: dict[str, int] = {}
    for point in seen.points:
        mine = seen.runs.get(point.index, [])
        latest = mine[-1] if mine else None
        state = _point_state(point.index, seen)
        counts[state.split(" ")[0]] = counts.get(state.split(" ")[0], 0) + 1
        values = ", ".join(f"{k}={formats.cell(v)}" for k, v in point.vars.items())
        rows.append(
            [
                str(point.index),
                values,
                state,
                ",".join(r["id"] for r in mine),
                outcome(latest) if latest else "",  # metrics, or else the series
            ]
        )
    table = formats.table(["point", "vars", "status", "runs", "metrics"], rows)
    summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    head = f"sweep {sweep_id}: {seen.data.get('hypothesis') or '(no hypothesis)'}"
    if best is not None:
        summary += "\n" + best
    return style(printable(head), "bold", out) + "\n" + table + printable(summary)


def _point_state(index: int, seen: _Seen) -> str:
    """A point's status in the table: its runs', or else what holds it."""
    mine = seen.runs.get(index, [])
    latest = mine[-1] if mine else None
    if _excluded(index, seen):
        return "excluded (removed, or tagged -trial)"
    if any(r["status"] == "succeeded" for r in mine):
        return "succeeded"
    if stopped := next((p for p in map(pruned, mine) if p is not None), None):
        return f"pruned at step {stopped['step']}"
    if index in seen.claimed and (latest is None or latest.get("ended") is None):
        return "running"
    if _never_started(index, seen):
        return seen.unstarted[index]
    return latest["status"] if latest else "missing"


def _never_started(index: int, seen: _Seen) -> bool:
    """Whether the point's state is what Slurm says of its unstarted task."""
    return (
        not _excluded(index, seen)
        and not seen.runs.get(index)
        and index not in seen.claimed
        and index in seen.unstarted
    )


def _excluded(index: int, seen: _Seen) -> bool:
    """Whether the point is a trial its search no longer counts."""
    return index in seen.told and seen.told[index].excluded


def best_so_far(
    archive: Archive,
    sweep_id: str,
    searching: Search,
    results: Mapping[int, search_trials.Told] | None = None,
) -> str:
    """An adaptive search's best trial (its Pareto front, for several objectives), and
    how many trials of its budget were asked; `results`: `search_trials.told`, when read."""
    asked = Sweeps(archive).asked(sweep_id)
    if results is None:
        results = search_trials.told(archive, sweep_id, searching)
    front = search_best.best(searching, results)
    budget = f"{asked} of {searching.trials} trials asked ({searching.sampler})"
    if not front:
        return f"{budget}; no trial has given its objective yet"
    names = ", ".join(
        f"{text} ({direction})"
        for text, direction in zip(searching.objectives, searching.directions, strict=True)
    )
    shown = "; ".join(
        f"point {t.index}: " + ", ".join(f"{v:.6g}" for v in t.values or ()) for t in front
    )
    kind = "best" if len(searching.objectives) == 1 else "Pareto front"
    return f"{budget}; {kind} of {names}: {shown}"


def _note_unstarted(sweeps: Sweeps, sweep_id: str, index: int, state: str) -> None:
    """Record, once, that a point's Slurm task ended without ever running it."""
    if (sweeps.result(sweep_id, index) or {}).get("status") is None:
        reason = f"its Slurm task never ran it: {state}"
        sweeps.note_result(sweep_id, index, {"status": "interrupted", "reason": reason})


def pruned(run: dict[str, Any]) -> dict[str, Any] | None:
    """Where the pruner stopped a search's trial (None: it did not)."""
    found = run["sweep"].get("pruned")
    return found if isinstance(found, dict) else None


RUN_FIELDS = {"sweep", "status", "ended", "metrics", "uid"}  # what `runs_of` loads


def runs_of(
    archive: Archive, sweep_id: str, loaded: list[Any] | None = None
) -> dict[int, list[dict[str, Any]]]:
    """The sweep's runs by point, oldest first (a record whose point is not a number is
    no point's); from the records `loaded` (`RUN_FIELDS` of each) when given."""
    records = loaded if loaded is not None else index.load(archive, RUN_FIELDS)[0]
    found: dict[int, list[dict[str, Any]]] = {}
    for run in records:
        tag = run.get("sweep")
        position = tag.get("index") if isinstance(tag, dict) else None
        if isinstance(position, int) and tag.get("id") == sweep_id:  # not text edited in
            found.setdefault(position, []).append(run)
    return found

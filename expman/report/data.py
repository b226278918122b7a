"""What the report shows, gathered from the archive as plain JSON-able data.

Runs come from the record cache (`index`), only the fields the page uses. Curves come from
each run's `series.sampled.json` (written at the end of each attempt), put on a grid of at
most `GRID` steps shared by every run of a metric, so that overlaid curves share one x
axis and the page stays small however long the series were. Sweeps bring their plans, so
that a heatmap shows the points that have no run yet. Each run brings the images among
its outputs (`images`). Everything is sorted: the same
archive gives the same data, hence the same bytes.

Records are untrusted (an archive may come from elsewhere, or be edited by hand): a run's
id, its links and where its curves are read come from its folder's name (digits only, as
the archive lists them), never from what the record says; a sweep is looked up only when
the archive has a sweep folder of that id. The page puts every text in as text (report.js).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from expman.errors import ArchiveError
from expman.observe import series
from expman.report import images
from expman.store import index
from expman.store.archive import Archive
from expman.store.query import Query
from expman.store.recordtable import LazyRecord
from expman.sweeps.store import Sweeps

GRID = 200  # steps per metric on the shared grid of the curves
CURVES_LIMIT = 500  # runs with curves in one report (the newest, after --where)
FIELDS = (
    "status",
    "hypothesis",
    "observations",
    "tags",
    "notes",
    "vars",
    "env",
    "overrides",
    "metrics",
    "series",
    "code",
    "scripts",
    "started",
    "duration",
    "sweep",
    "experiment",
    "outputs",
)


def gather(
    archive: Archive, where: str | None, base: Path, image_budget: int = images.BUDGET
) -> dict[str, Any]:
    """The report's data: runs (with their images), curves and sweeps (`base`: where the
    report is written, for the relative links to run folders)."""
    condition = Query(where) if where else None
    wanted = set(FIELDS) | (condition.fields() if condition else set())
    table, _ = index.load_table(archive, wanted)
    # LazyRecords: `.get` only, or they load whole; only those `where` selects are built
    records = table.rows(None if condition is None else condition.positions(table))
    prefix = _link_prefix(archive, base)
    runs = [_run(r, prefix) for r in records]
    budget = images.Budget(image_budget)
    for run, record in zip(runs, records, strict=True):
        run["images"] = images.of_run(archive, record, run["folder"], budget)
    with_series = [r for r in records if isinstance(r.get("series"), dict) and r.get("series")]
    return {
        "archive": archive.root.name,
        "runs": runs,
        "curves": _curves(archive, with_series[-CURVES_LIMIT:]),
        "sweeps": _sweeps(archive, {str(r.get("sweep")["id"]) for r in records if _swept(r)}),
        "searches": _searches(archive, {str(r.get("sweep")["id"]) for r in records if _swept(r)}),
    }


def _link_prefix(archive: Archive, base: Path) -> str:
    """The archive's folder relative to `base`, as the start of a URL: each name
    percent-encoded, so that none can be read as a scheme (`javascript:`) or a query."""
    relative = Path(os.path.relpath(archive.root.resolve(), base.resolve()))
    return "".join(quote(part) + "/" for part in relative.parts if part != ".")


def _swept(record: dict[str, Any]) -> bool:
    tag = record.get("sweep")
    return isinstance(tag, dict) and isinstance(tag.get("id"), str)


def _run(record: LazyRecord, prefix: str) -> dict[str, Any]:
    link = f"{prefix}{record.folder}/"  # digits only: see the module's words
    code = _object(record.get("code"))
    scripts = _list(record.get("scripts"))
    tag = record.get("sweep") if _swept(record) else None
    return {
        "id": record.folder,
        "experiment": record.get("experiment"),
        "status": record.get("status"),
        "hypothesis": record.get("hypothesis") or "",
        "observations": record.get("observations") or "",
        "tags": sorted(str(t) for t in _list(record.get("tags"))),
        "notes": [str(n.get("text")) for n in _list(record.get("notes")) if isinstance(n, dict)],
        "vars": _object(record.get("vars")),
        "metrics": _flat(record.get("metrics")),
        "series": {
            name: {k: v for k, v in s.items() if k in ("last", "min", "max", "count")}
            for name, s in sorted(_object(record.get("series")).items())
            if isinstance(s, dict)
        },
        "config": {
            "env": _object(record.get("env")),
            "overrides": _object(record.get("overrides")),
            "scripts": {
                str(s.get("path")): str(s.get("sha256", ""))[:12]
                for s in scripts
                if isinstance(s, dict)
            },
        },
        "code": {k: code.get(k) for k in ("commit", "branch", "dirty", "patch")},
        "started": record.get("started"),
        "duration": record.get("duration"),
        "sweep": {"id": tag["id"], "index": tag.get("index")} if tag else None,
        "folder": link,
        "logs": link + "logs/",
    }


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _object(value: Any) -> dict[str, Any]:
    return dict(sorted(value.items())) if isinstance(value, dict) else {}


def _flat(metrics: Any, prefix: str = "") -> dict[str, Any]:
    """Metrics as `name: scalar`, nested names joined with dots (lists are left out)."""
    if not isinstance(metrics, dict):
        return {}
    flat: dict[str, Any] = {}
    for key, value in sorted(metrics.items()):
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flat(value, name + "."))
        elif value is None or isinstance(value, bool | int | float | str):
            flat[name] = value
    return flat


def _curves(archive: Archive, records: list[LazyRecord]) -> dict[str, Any]:
    """Per metric: a shared grid of steps, and each run's values on it (null: no point)."""
    loaded: dict[str, dict[str, dict[str, list[Any]]]] = {}
    for record in records:
        # never through a link, from a pipe nor huge: the archive may come from elsewhere
        curves = series.read_sampled(archive.run_dir(record.folder))
        if isinstance(curves, dict):
            loaded[record.folder] = curves
    names = sorted({name for curves in loaded.values() for name in curves})
    result: dict[str, Any] = {}
    for name in names:
        points = {
            run_id: curves[name] for run_id, curves in loaded.items() if _is_curve(curves.get(name))
        }
        steps = [s for p in points.values() for s in p["step"] if _finite(s)]
        if not steps:
            continue
        low, high = min(steps), max(steps)
        # high / GRID - low / GRID: high - low may be no float (-1.7e308 to 1.7e308)
        width = high / GRID - low / GRID if high > low else 1.0
        cells = GRID if high > low and width > 0 else 1
        grid = [_round(_between(low, high, (i + 0.5) / cells)) for i in range(cells)]
        result[name] = {
            "steps": grid,
            "runs": {run_id: _on_grid(p, low, width, cells) for run_id, p in points.items()},
        }
    return result


def _is_curve(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("step"), list)
        and isinstance(value.get("value"), list)
        and len(value["step"]) == len(value["value"])
    )


def _on_grid(curve: dict[str, list[Any]], low: float, width: float, cells: int) -> list[Any]:
    """The mean of the run's points in each cell of the grid (null where it has none).
    Each value is divided before it is added: a sum of values near 1.8e308 is no float."""
    values: list[list[float]] = [[] for _ in range(cells)]
    for step, value in zip(curve["step"], curve["value"], strict=True):
        if not (_finite(step) and _finite(value)):
            continue
        cell = min(cells - 1, max(0, int(step / width - low / width))) if cells > 1 else 0
        values[cell].append(value)
    return [_round(math.fsum(v / len(vs) for v in vs)) if vs else None for vs in values]


def _sweeps(archive: Archive, ids: set[str]) -> dict[str, Any]:
    """Each sweep's plan (point index and vars), for the heatmap's missing points."""
    store = Sweeps(archive)
    found: dict[str, Any] = {}
    for sweep_id in sorted(ids & set(store.ids())):  # only folders the archive has
        try:
            plan = store.plan(sweep_id)
        except ArchiveError:  # a damaged sweep folder must not stop the report
            continue
        found[sweep_id] = [{"index": p.index, "vars": _object(p.vars)} for p in plan]
    return found


def _between(low: float, high: float, part: float) -> float:
    """The point that far from `low` to `high`, with no sum that is no float."""
    return low * (1 - part) + high * part if high > low else low


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _round(value: float) -> float:
    """Six significant digits: what a chart can show, and far fewer bytes."""
    return float(f"{value:.6g}")


def _searches(archive: Archive, ids: set[str]) -> dict[str, Any]:
    """Each adaptive search's trials in index order (objective values, null when none;
    pruned; the runs that told them), and its best trial or Pareto front (`search_best.best`)."""
    # no Optuna: only what the archive says
    from expman.sweeps import search_best, search_definition, search_trials

    store = Sweeps(archive)
    found: dict[str, Any] = {}
    for sweep_id in sorted(ids & set(store.ids())):
        try:
            searching = search_definition.stored(store.read(sweep_id).get("definition") or {})
            if searching is None:
                continue
            told = search_trials.told(archive, sweep_id, searching)
        except ArchiveError:  # a damaged sweep folder must not stop the report
            continue
        shown = [t for _, t in sorted(told.items()) if not (t.excluded or t.running)]
        found[sweep_id] = {
            "objectives": list(searching.objectives),
            "directions": list(searching.directions),
            "trials": [
                {
                    "index": t.index,
                    "values": [_round(v) for v in t.values] if t.values else None,
                    "pruned": t.pruned,
                }
                for t in shown
            ],
            "front": [t.index for t in search_best.best(searching, told)],
        }
    return found

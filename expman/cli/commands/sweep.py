"""`expman sweep`: run the experiment over many var values as one question.

expman sweep -m "lr and seed" -s LR=0.001,0.01,0.1 -s SEED=1..3 --jobs 2
expman sweep -s LR='loguniform(1e-4,1e-1)' --random 20 --seed 7
expman sweep --points points.csv
expman sweep --plan ...           the points, without running anything
expman sweep --resume s0003 [--random 40]
expman sweep status [s0003]
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from expman import formats
from expman.cli.commands.show import outcome
from expman.errors import EXIT_INTERRUPTED, EXIT_STAGE_FAILED, UsageError
from expman.expfile import config, location
from expman.expfile.model import Config
from expman.observe import metrics
from expman.output import printable, style, write_line
from expman.running import snapshot, workspace
from expman.running.outputs import OUTPUTS
from expman.running.state import STATE_DIR, State
from expman.slurm.track import reconcile
from expman.store import index
from expman.store.archive import Archive
from expman.sweeps import inputs, plan
from expman.sweeps.backend import CLAIMED, Backend
from expman.sweeps.local import Local
from expman.sweeps.store import Sweeps
from expman.sweeps.view import View


@dataclass(frozen=True)
class Options:
    """How to run the points."""

    jobs: int = 1
    gpus: tuple[str, ...] = ()
    gpus_per_run: int = 1
    retries: int = 0
    fail_fast: bool = False
    on: str = "local"
    slurm: tuple[str, ...] = ()  # --slurm KEY=VALUE


def sweep(
    *,
    path: Path,
    display: str,
    name: str | None,
    hypothesis: str | None,
    specs: Sequence[str],
    samples: int | None,
    seed: int | None,
    points_file: Path | None,
    only_plan: bool,
    resume: str | None,
    options: Options,
    streams: tuple[TextIO, TextIO],
) -> int:
    """Start (or resume) a sweep and run its points; 0 when every point succeeded."""
    out, err = streams
    root = path.parent
    cfg = config.load(path, display, cache=State(root))
    archive = Archive(root / cfg.archive)
    sweeps = Sweeps(archive)
    graph = plan.graph_digest([{"step": s.task_name, **s.definition} for s in cfg.steps])
    if resume is not None:
        if specs or points_file is not None or name is not None or hypothesis is not None:
            raise UsageError(
                "--resume runs the sweep as it was defined: give it no -s, --points, name or -m "
                "(only --random, to extend a random sweep)"
            )
        sweep_id = sweeps.resolve(resume)
        if samples is not None:
            stored = sweeps.read(sweep_id)
            definition = inputs.extended(stored["definition"], samples)
            added = sweeps.extend(sweep_id, plan.points(definition, stored["graph"]))
            write_line(err, f"expman: sweep {sweep_id}: {added} point(s) added")
        if only_plan:
            return _print_plan(sweeps.plan(sweep_id), out)
    else:
        request = inputs.Request(name, specs, samples, seed, points_file)
        planned = inputs.planned(cfg, display, graph, request)
        if only_plan:
            return _print_plan(planned.points, out)
        if hypothesis is None:
            hypothesis = planned.hypothesis
        sweep_id = _create(
            root, cfg, sweeps, planned.definition, planned.points, graph, hypothesis, name
        )
    points = sweeps.plan(sweep_id)
    done = _succeeded(archive, sweep_id)
    todo = [p.index for p in points if p.index not in done]
    write_line(
        err,
        style(f"expman: sweep {sweep_id}: {len(points)} points, {len(todo)} to run", "bold", err),
    )
    if options.on == "slurm":
        return _on_slurm(root, cfg, archive, sweeps, sweep_id, todo, options, out)
    backend: Backend = Local(
        root=root,
        archive=archive.root.resolve(),
        sweep_id=sweep_id,
        logs=sweeps.folder(sweep_id) / "logs",
        jobs=max(1, options.jobs),
        gpus=options.gpus,
        gpus_per_run=options.gpus_per_run,
        retries=options.retries,
        fail_fast=options.fail_fast,
    )
    view = View(
        sweeps, sweep_id, {p.index: p for p in points}, len(todo), err, _metrics_of(cfg, sweep_id)
    )
    try:
        codes = backend.run(todo, view.event, view.tick)
    except KeyboardInterrupt:
        view.close()
        write_line(err, f"expman: sweep {sweep_id} interrupted: `expman sweep --resume {sweep_id}`")
        return EXIT_INTERRUPTED
    view.close()
    write_line(out, status_table(archive, sweeps, sweep_id, out))
    failed = [i for i, code in codes.items() if code not in (0, CLAIMED)]
    return EXIT_STAGE_FAILED if failed else 0


def _on_slurm(
    root: Path,
    cfg: Config,
    archive: Archive,
    sweeps: Sweeps,
    sweep_id: str,
    todo: list[int],
    options: Options,
    out: TextIO,
) -> int:
    """Queue the points as job arrays and return: nothing stays running here."""
    from expman.slurm import scheduler
    from expman.slurm.settings import settings
    from expman.sweeps import slurm

    problem = scheduler.available()
    if problem is not None:
        raise UsageError(f"--on slurm: {problem}")
    chosen = settings(cfg.slurm, options.slurm)
    waiting = slurm.waiting(sweeps, sweep_id)  # points still queued in Slurm stay there
    todo = [i for i in todo if not waiting.get(i, "").startswith("queued")]
    if not todo:
        write_line(out, f"sweep {sweep_id}: every point has succeeded or waits in Slurm")
        return 0
    arrays = slurm.submit(root, archive, sweeps, sweep_id, todo, chosen, options.retries)
    ids = ", ".join(a["job_id"] for a in arrays)
    write_line(
        out,
        style(
            f"sweep {sweep_id}: {len(todo)} points queued as Slurm job array(s) {ids}", "bold", out
        )
        + f" (squeue --name {arrays[0]['job_name']}; expman watch --sweep {sweep_id}; "
        f"expman sweep status {sweep_id}; expman cancel {sweep_id})",
    )
    return 0


def sweep_status(*, path: Path, name: str | None, out: TextIO) -> int:
    """The points of a sweep (the last one by default): planned, done, failed, running."""
    root = path.parent
    archive = Archive(root / location.archive_setting(path))
    sweeps = Sweeps(archive)
    if not sweeps.ids():
        raise UsageError("no sweep yet: `expman sweep -s NAME=VALUES` starts one")
    sweep_id = sweeps.resolve(name or "last")
    write_line(out, status_table(archive, sweeps, sweep_id, out))
    return 0


def status_table(archive: Archive, sweeps: Sweeps, sweep_id: str, out: TextIO) -> str:
    """One row per point: index, vars, status, run, metrics; then the counts."""
    from expman.sweeps.slurm import waiting

    data = sweeps.read(sweep_id)
    reconcile(archive)
    runs = _runs_of(archive, sweep_id)
    claimed = dict(sweeps.claims(sweep_id).held())
    unstarted = waiting(sweeps, sweep_id)
    rows: list[list[str]] = []
    counts: dict[str, int] = {}
    for point in sweeps.plan(sweep_id):
        mine = runs.get(point.index, [])
        latest = mine[-1] if mine else None
        state = latest["status"] if latest else "missing"
        if any(r["status"] == "succeeded" for r in mine):
            state = "succeeded"
        elif point.index in claimed and (latest is None or latest.get("ended") is None):
            state = "running"
        elif latest is None and point.index in unstarted:
            state = unstarted[point.index]
            if not state.startswith(("queued", "starting")):  # its job is gone, never ran it
                _note_unstarted(sweeps, sweep_id, point.index, state)
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
    head = f"sweep {sweep_id}: {data.get('hypothesis') or '(no hypothesis)'}"
    return style(printable(head), "bold", out) + "\n" + table + printable(summary)


def _create(
    root: Path,
    cfg: Config,
    sweeps: Sweeps,
    definition: plan.Definition,
    points: list[plan.Point],
    graph: str,
    hypothesis: str | None,
    name: str | None,
) -> str:
    code = snapshot.code_version(root, [cfg.archive, OUTPUTS, STATE_DIR])
    if code.commit is None:
        reason = code.error or "the repository has no commit yet"
        raise UsageError(
            f"a sweep runs each point in a workspace of the experiment's code, taken from "
            f"git: {reason} (`git init && git add -A && git commit -m start`)"
        )
    files = {"expfile.yaml": cfg.text.encode()}
    if code.patch:
        files["code.patch"] = code.patch
    data = {
        "name": name,
        "hypothesis": hypothesis if hypothesis is not None else cfg.hypothesis,
        "observations": "",
        "experiment": cfg.name,
        "definition": definition.as_data(),
        "graph": graph,
        "code": code.record("code.patch" if code.patch else None),
    }
    return sweeps.create(data, points, files)


def _note_unstarted(sweeps: Sweeps, sweep_id: str, index: int, state: str) -> None:
    """Record, once, that a point's Slurm task ended without ever running it."""
    if (sweeps.result(sweep_id, index) or {}).get("status") is None:
        reason = f"its Slurm task never ran it: {state}"
        sweeps.note_result(sweep_id, index, {"status": "interrupted", "reason": reason})


def _succeeded(archive: Archive, sweep_id: str) -> set[int]:
    return {
        i
        for i, runs in _runs_of(archive, sweep_id).items()
        if any(r["status"] == "succeeded" for r in runs)
    }


def _runs_of(archive: Archive, sweep_id: str) -> dict[int, list[dict[str, Any]]]:
    records, _ = index.load(archive, {"sweep", "status", "ended", "metrics"})
    found: dict[int, list[dict[str, Any]]] = {}
    for run in records:
        tag = run.get("sweep")
        if isinstance(tag, dict) and tag.get("id") == sweep_id:
            found.setdefault(int(tag["index"]), []).append(run)
    return found


def _metrics_of(cfg: Config, sweep_id: str) -> Callable[[int], Any]:
    """Reads a running point's metrics file in its workspace (None until it is there)."""
    found = workspace.git(cfg.root, "rev-parse", "--show-toplevel").strip()
    inside = os.path.relpath(cfg.root, found)

    def read(index: int) -> Any:
        if cfg.metrics is None:
            return None
        base = cfg.root / STATE_DIR / workspace.WORKSPACES / f"{sweep_id}-{index}"
        path = base / inside / cfg.metrics
        try:
            return metrics.read(path, cfg.metrics) if path.is_file() else None
        except metrics.MetricsError:
            return None

    return read


def _print_plan(points: list[plan.Point], out: TextIO) -> int:
    names = list(dict.fromkeys(name for p in points for name in p.vars))
    rows = [[str(p.index), *(formats.cell(p.vars.get(n)) for n in names), p.hash] for p in points]
    out.write(formats.table(["point", *names, "hash"], rows))
    return 0

"""`expman sweep`: run the experiment over many var values as one question.

expman sweep -m "lr and seed" -s LR=0.001,0.01,0.1 -s SEED=1..3 --jobs 2
expman sweep -s LR='loguniform(1e-4,1e-1)' --random 20 --seed 7
expman sweep --points points.csv
expman sweep --plan ...           the points, without running anything
expman sweep --resume s0003 [--random 40]

`expman sweep status` is `sweep_status`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from expman import formats, fsutil
from expman.cli.commands.sweep_status import best_so_far, pruned, runs_of, settle_and_show
from expman.errors import EXIT_INTERRUPTED, EXIT_STAGE_FAILED, UsageError
from expman.expfile import loading
from expman.expfile.model import Config
from expman.observe import metrics
from expman.output import printable, style, write_line
from expman.running import snapshot, workspace
from expman.running.outputs import OUTPUTS
from expman.running.state import STATE_DIR, State
from expman.store.archive import Archive
from expman.sweeps import (
    inputs,
    plan,
    search_ask,
    search_definition,
    search_study,
    search_trials,
)
from expman.sweeps.backend import CLAIMED, Ask, Backend
from expman.sweeps.local import Local
from expman.sweeps.search_definition import Asked, Search
from expman.sweeps.store import Sweeps, end_orphans
from expman.sweeps.view import Best, View


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
    searched: Asked | None = None,
    trials: int | None = None,
) -> int:
    """Start (or resume) a sweep and run its points; 0 when every point succeeded.
    `searched`: what the command line says of an adaptive search, whose trials are
    asked one at a time (`sweeps.search_ask`); `trials` raises a resumed search's budget."""
    out, err = streams
    root = path.parent
    config = loading.load(path, display, cache=State(root))
    archive = Archive(root / config.archive)
    sweeps = Sweeps(archive)
    request = inputs.Request(name, specs, samples, seed, points_file, searched or Asked())
    if resume is not None:
        given = specs or points_file is not None or name is not None or hypothesis is not None
        if given or seed is not None:  # its seed included: the one it was made with
            raise UsageError(
                "--resume runs the sweep as it was defined: give it no -s, --points, name, -m "
                "or --seed "
                "(only --random, to extend a random sweep, or --trials, a search)"
            )
        sweep_id = _resumed(sweeps, resume, samples, err)
        if trials is not None:
            _raise_budget(sweeps, sweep_id, trials, err)
        if only_plan:
            return _print_plan(sweeps.plan(sweep_id), out)
    else:
        graph = plan.graph_digest([{"step": s.task_name, **s.definition} for s in config.steps])
        planned = inputs.planned(config, display, graph, request)
        if only_plan and planned.definition.search is not None:
            return _print_search(planned.definition, out)
        if only_plan:
            return _print_plan(planned.points, out)
        if planned.definition.search is not None:  # refused before a sweep that could not run
            search_study.ready(str(planned.definition.search.get("sampler")))
            _say_choices_apart(planned.definition, err)
        sweep_id = _create(
            root, config, sweeps, planned, graph, _hypothesis(hypothesis, planned, config), name
        )
    fresh = resume is None  # made just now: no run of it yet, none to look for
    return _run_or_queue(root, config, archive, sweeps, sweep_id, options, streams, fresh)


def _say_choices_apart(definition: plan.Definition, err: TextIO) -> None:
    """CMA-ES searches numbers together; a var of choices is drawn at random, apart from
    them, at every trial (Optuna warned so at each trial, in words for its API)."""
    if (definition.search or {}).get("sampler") != "cmaes":
        return
    apart = [s.name for s in definition.specs if search_definition.choices(s) is not None]
    if apart:
        write_line(
            err,
            printable(
                f"expman: --search cmaes searches numbers; {', '.join(apart)} "
                "(choices) will be drawn at random, apart from the others",
            ),
        )


def _hypothesis(given: str | None, planned: inputs.Planned, config: Config) -> str | None:
    """Which hypothesis a new sweep records: the command line's (`-m`), else the named
    sweep's, else the expfile's."""
    for candidate in (given, planned.hypothesis, config.hypothesis):
        if candidate is not None:
            return candidate
    return None


def _resumed(sweeps: Sweeps, name: str, samples: int | None, err: TextIO) -> str:
    """The sweep `--resume` names, its random points first extended to `samples`."""
    sweep_id = sweeps.resolve(name)
    if samples is not None:
        stored = sweeps.read(sweep_id)
        definition = inputs.extended(stored["definition"], samples)
        added = sweeps.extend(sweep_id, plan.points(definition, stored["graph"]))
        write_line(err, f"expman: sweep {sweep_id}: {added} point(s) added")
    return sweep_id


def _raise_budget(sweeps: Sweeps, sweep_id: str, trials: int, err: TextIO) -> None:
    """Raise an adaptive search's budget of trials to `trials`."""
    with fsutil.locked(sweeps.folder(sweep_id)):  # as trials are asked
        data = sweeps.read(sweep_id)
        found = search_definition.stored(data["definition"])
        if found is None:
            raise UsageError("--trials raises the budget of an adaptive search (--search)")
        search_study.ready(found.sampler)  # refused before the budget is raised
        data["definition"]["search"] = search_definition.with_trials(found, trials).as_data()
        sweeps.write(data)
    write_line(err, f"expman: sweep {sweep_id}: a budget of {trials} trials")


def _run_or_queue(
    root: Path,
    config: Config,
    archive: Archive,
    sweeps: Sweeps,
    sweep_id: str,
    options: Options,
    streams: tuple[TextIO, TextIO],
    fresh: bool = False,
) -> int:
    """Run the points of the sweep without a succeeded run here, or queue them on Slurm.
    A `fresh` sweep, made by this command, has no run yet: the archive is not read for
    them (a point another process ran meanwhile is left by its point process)."""
    out, err = streams
    if not fresh:
        end_orphans(archive, sweep_id)
    points = sweeps.plan(sweep_id)
    done = set() if fresh else _succeeded(archive, sweep_id)
    searching = search_definition.stored(sweeps.read(sweep_id)["definition"])
    if searching is not None and not fresh:  # a trial taken out of the search is not run again
        done |= {
            i for i, t in search_trials.told(archive, sweep_id, searching).items() if t.excluded
        }
    todo = [p.index for p in points if p.index not in done]
    to_ask = max(0, searching.trials - len(points)) if searching else 0
    asked = f", {to_ask} trials to ask" if searching else ""
    write_line(
        err,
        style(
            f"expman: sweep {sweep_id}: {len(points)} points, {len(todo)} to run{asked}",
            "bold",
            err,
        ),
    )
    if options.on == "slurm":
        workers = max(1, options.jobs) if searching else 0
        return _on_slurm(root, config, archive, sweeps, sweep_id, todo, workers, options, out)
    return _run_here(root, config, archive, sweeps, sweep_id, todo, options, streams)


def _run_here(
    root: Path,
    config: Config,
    archive: Archive,
    sweeps: Sweeps,
    sweep_id: str,
    todo: list[int],
    options: Options,
    streams: tuple[TextIO, TextIO],
) -> int:
    """Run the points `todo` on this machine, with the live view; 0 when all succeeded."""
    out, err = streams
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
    points = {p.index: p for p in sweeps.plan(sweep_id)}
    searching = search_definition.stored(sweeps.read(sweep_id)["definition"])
    to_ask = max(0, searching.trials - len(points)) if searching else 0
    best, asker = _searching(archive, sweep_id, searching, points) if searching else (None, None)
    metrics = _metrics_of(config, sweep_id)
    view = View(sweeps, sweep_id, points, len(todo) + to_ask, err, metrics, best)
    try:
        codes = backend.run(todo, view.event, view.tick, asker)
    except KeyboardInterrupt:
        view.close()
        write_line(err, f"expman: sweep {sweep_id} interrupted: `expman sweep --resume {sweep_id}`")
        return EXIT_INTERRUPTED
    view.close()
    settle_and_show(archive, sweeps, sweep_id, out)
    failed = [i for i, code in codes.items() if code not in (0, CLAIMED)]
    return EXIT_STAGE_FAILED if failed else 0


def _searching(
    archive: Archive, sweep_id: str, searching: Search, points: dict[int, plan.Point]
) -> tuple[Best, Ask]:
    """The best-so-far line, said as a trial finishes, and the asker of the next trial,
    which adds it to `points` (which the view shows) and gives its index, or None when
    the budget is spent. A slot frees as a trial finishes: the asker is told what the
    line read of the archive (`search_trials.Reader`, which reads again only the records
    that changed) just before, rather than reading it again."""
    read: list[dict[int, search_trials.Told]] = []
    trials = search_trials.reader(archive, sweep_id, searching)

    def best() -> str:
        read[:] = [trials.told()]
        return best_so_far(archive, sweep_id, searching, read[0])

    def ask() -> int | None:
        point = search_ask.ask(archive, sweep_id, read.pop() if read else None)
        if point is None:
            return None
        points[point.index] = point
        return point.index

    return best, ask


def _on_slurm(
    root: Path,
    config: Config,
    archive: Archive,
    sweeps: Sweeps,
    sweep_id: str,
    todo: list[int],
    workers: int,
    options: Options,
    out: TextIO,
) -> int:
    """Queue the points as job arrays and return: nothing stays running here. An
    adaptive search (`workers` > 0) queues its workers, which run the trials never
    started and ask for the rest; its trials that ran and did not succeed are queued
    as points."""
    from expman.slurm import scheduler
    from expman.slurm.settings import settings
    from expman.sweeps import slurm

    problem = scheduler.available()
    if problem is not None:
        raise UsageError(f"--on slurm: {problem}")
    chosen = settings(config.slurm, options.slurm)
    if workers:
        noted = sweeps.noted(sweep_id)
        todo = [i for i in todo if i in noted]  # the workers run the others
    waiting = slurm.waiting(sweeps, sweep_id)  # points still queued in Slurm stay there
    todo = [i for i in todo if not waiting.get(i, "").startswith("queued")]
    arrays = slurm.submit(root, archive, sweeps, sweep_id, todo, chosen, options.retries)
    if workers and _trials_left(archive, sweeps, sweep_id):
        job = slurm.submit_workers(
            root, archive, sweeps, sweep_id, workers, chosen, options.retries
        )
        arrays.append(job)
    if not arrays:
        write_line(out, f"sweep {sweep_id}: every point has succeeded or waits in Slurm")
        return 0
    ids = ", ".join(a["job_id"] for a in arrays)
    queued = f"{len(todo)} points" + (f" and {workers} search workers" if workers else "")
    write_line(
        out,
        style(f"sweep {sweep_id}: {queued} queued as Slurm job array(s) {ids}", "bold", out)
        + f" (squeue --name {arrays[0]['job_name']}; expman watch --sweep {sweep_id}; "
        f"expman sweep status {sweep_id}; expman cancel {sweep_id})",
    )
    return 0


def _trials_left(archive: Archive, sweeps: Sweeps, sweep_id: str) -> bool:
    """Whether an adaptive search has trials to ask, or asked ones no process started."""
    from expman.sweeps.search_task import unstarted

    found = search_definition.stored(sweeps.read(sweep_id)["definition"])
    if found is not None and len(sweeps.plan(sweep_id)) < found.trials:
        return True
    return unstarted(archive, sweep_id) is not None


def _create(
    root: Path,
    config: Config,
    sweeps: Sweeps,
    planned: inputs.Planned,
    graph: str,
    hypothesis: str | None,
    name: str | None,
) -> str:
    code = snapshot.code_version(root, [config.archive, OUTPUTS, STATE_DIR])
    if code.commit is None:
        reason = code.error or "the repository has no commit yet"
        raise UsageError(
            f"a sweep runs each point in a workspace of the experiment's code, taken from "
            f"git: {reason} (`git init && git add -A && git commit -m start`)"
        )
    files = {"expfile.yaml": config.text.encode()}
    if code.patch:
        files["code.patch"] = code.patch
    data = {
        "name": name,
        "hypothesis": hypothesis,
        "observations": "",
        "experiment": config.name,
        "definition": planned.definition.as_data(),
        "graph": graph,
        "code": code.record("code.patch" if code.patch else None),
    }
    return sweeps.create(data, planned.points, files)


def _succeeded(archive: Archive, sweep_id: str) -> set[int]:
    """The points that need no run again: one succeeded, or its pruner stopped it."""
    return {
        i
        for i, runs in runs_of(archive, sweep_id).items()
        if any(r["status"] == "succeeded" or pruned(r) for r in runs)
    }


def _metrics_of(config: Config, sweep_id: str) -> Callable[[int], Any]:
    """Reads a running point's metrics file in its workspace (None until it is there)."""
    found = workspace.git(config.root, "rev-parse", "--show-toplevel").strip()
    inside = os.path.relpath(config.root, found)

    def read(index: int) -> Any:
        if config.metrics is None:
            return None
        base = config.root / STATE_DIR / workspace.WORKSPACES / f"{sweep_id}-{index}"
        path = base / inside / config.metrics
        try:
            return metrics.read(path, config.metrics) if path.is_file() else None
        except metrics.MetricsError:
            return None

    return read


def _print_search(definition: plan.Definition, out: TextIO) -> int:
    """What `--plan` can say of a search: its trials are asked as it runs, so its space,
    its sampler and its budget rather than points."""
    found = search_definition.stored(definition.as_data())
    if found is None:  # not a search after all
        return _print_plan([], out)
    space = ", ".join(
        f"{s.name}={s.text or formats.cell(list(s.values))}" for s in definition.specs
    )
    objectives = ", ".join(
        f"{o} ({d})" for o, d in zip(found.objectives, found.directions, strict=True)
    )
    write_line(
        out, f"{found.trials} trials to ask ({found.sampler}, seed {found.seed}) over {space}"
    )
    write_line(out, f"objective: {objectives}; the trials are asked as the search runs")
    return 0


def _print_plan(points: list[plan.Point], out: TextIO) -> int:
    names = list(dict.fromkeys(name for p in points for name in p.vars))
    rows = [[str(p.index), *(formats.cell(p.vars.get(n)) for n in names), p.hash] for p in points]
    out.write(formats.table(["point", *names, "hash"], rows))
    return 0

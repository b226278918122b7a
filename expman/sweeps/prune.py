"""Early stopping of an adaptive search's trials (`--prune median|asha|hyperband
--prune-metric NAME`), from the live series.

A trial of a search that prunes runs a `Watcher` beside its stages, in the point's
process: every second it reads what the stages appended to the run's live series (a
reader of its own, as the heartbeat reads it), keeps the metric's values by whole step
in the sweep's folder (`intermediate/<index>.json`: steps, values, and the numbers the
pruner keeps of the trial), and asks Optuna's pruner, rebuilt in memory from those files
and the archive, whether the trial should stop; what it read is kept between checks
(`Judge`), a trial's file read again only when it changed. The values are compared in
the direction of the search's objective (one objective: Optuna prunes no Pareto search).

A pruned trial's stages are stopped as Ctrl-C stops them (the attempt records `reason:
pruned at step N ...`), and its record gets `sweep.pruned: {step, value, pruner}`
once it has ended: a finished trial, not a failure. `--resume` does not run it again,
`sweep status` shows it `pruned`, and the sampler is told of it as pruned, with its
intermediate values.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import warnings
from collections.abc import Mapping
from typing import Any

from expman.observe import series, seriesreader
from expman.slurm import signals
from expman.store.archive import Archive
from expman.sweeps import search_definition, search_study, search_trials
from expman.sweeps.plan import Point
from expman.sweeps.search_definition import Pruning
from expman.sweeps.store import MAX_STEPS, Signature, Sweeps
from expman.sweeps.values import number

POLL_SECONDS = 1.0


class Watcher:
    """The thread beside a trial's stages that reports its series and stops it when the
    pruner says so (`pruned` then holds the step and the value)."""

    def __init__(self, archive: Archive, sweep_id: str, point: Point, pruning: Pruning) -> None:
        self.archive, self.sweep_id, self.point, self.pruning = archive, sweep_id, point, pruning
        self.sweeps = Sweeps(archive)
        self.pruned: dict[str, Any] | None = None
        self._reader: seriesreader.Reader | None = None
        self._judge: Judge | None = None
        self._reported: dict[int, float] = {}
        self._attrs: dict[str, Any] = {}
        self._stop = threading.Event()
        self._deciding = threading.Lock()  # no trial is pruned once `finish` began
        self._finished = False
        self._thread = threading.Thread(target=self._loop, name="expman-pruner", daemon=True)

    def start(self, run_id: str) -> None:
        """Begin watching the series of run `run_id` (the trial's, just opened)."""
        path = series.stream(self.archive.run_dir(run_id))
        self._reader = seriesreader.Reader(path)
        self._thread.start()

    def finish(self) -> None:
        """Stop watching, and keep what the trial reported to its end (what the pruner
        compares the next trials with); once (a second call does nothing)."""
        if self._finished:
            return
        self._finished = True
        with self._deciding:
            self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if self._reader is not None and self.pruned is None:
            # The ended run's series, stored in its folder (its live file is gone).
            self._reader = seriesreader.Reader(self._reader.path.parent.parent / series.FILE)
            with contextlib.suppress(OSError):
                self._reader.poll(complete=True)
                self._reported = self._values() or self._reported
                self._write()

    def _loop(self) -> None:
        while not self._stop.wait(POLL_SECONDS) and self.pruned is None:
            try:
                self._check()
            except Exception as e:  # a pruner's problem must not stop the trial
                with contextlib.suppress(OSError):
                    os.write(2, f"expman: pruner: {e!r}\n".encode(errors="replace"))
                return

    def _check(self) -> None:
        assert self._reader is not None
        self._reader.poll()
        new = self._values()
        if not new or new == self._reported:
            return
        self._reported = new
        if self._judge is None:
            self._judge = Judge(self.archive, self.sweep_id, self.point)
        verdict, self._attrs = self._judge.decide(new, self._attrs)
        self._write()
        with self._deciding:
            if verdict is None or self._stop.is_set():  # the trial ended meanwhile
                return
            self.pruned = verdict
            step = verdict["step"]
            signals.stopping(
                f"pruned at step {step} by the {self.pruning.pruner} pruner "
                f"({self.pruning.metric} {verdict['value']:.6g})"
            )
            os.kill(os.getpid(), signal.SIGTERM)  # stops the stages as Ctrl-C does

    def _values(self) -> dict[int, float]:
        """The watched metric's values read so far, by whole step (the last of a step)."""
        assert self._reader is not None
        sampler = self._reader.samplers.get(self.pruning.metric)
        if sampler is None:
            return {}
        points = sampler.points()
        found = {
            int(step): float(value)
            for step, value in zip(points["step"], points["value"], strict=True)
            if value is not None and float(step).is_integer()
        }
        return dict(list(found.items())[-MAX_STEPS:])

    def _write(self) -> None:
        reported = {"steps": list(self._reported), "values": list(self._reported.values())}
        self.sweeps.report(self.sweep_id, self.point.index, {**reported, "attrs": self._attrs})


class Judge:
    """Optuna's pruner for one trial, kept by its watcher between checks. What does not
    change while the trial runs (the search, its space, the trials asked before it) is
    read once. Each earlier trial's reported values are read again only when their file
    changed (`Sweeps.reread_intermediate`: one stat otherwise), and the study is kept
    while what every earlier trial gave and reported stays as it was: a check then only
    adds the trial's new steps. What the archive says each trial gave (`search_trials.told`) is
    read at every check, through the record cache: a trial may end, or be taken out, at
    any moment. Memory: one report per earlier trial (at most `MAX_STEPS` values), and
    the study built from them."""

    def __init__(self, archive: Archive, sweep_id: str, point: Point) -> None:
        self.archive, self.sweep_id, self.point = archive, sweep_id, point
        self.sweeps = Sweeps(archive)
        self.optuna = search_study.load_optuna()
        definition = self.sweeps.read(sweep_id)["definition"]
        found = search_definition.stored(definition)
        assert found is not None and found.prune is not None
        self.search, self.pruning = found, found.prune
        self.space = search_study.space_of(self.optuna, search_definition.specs_of(definition))
        self.earlier = [p for p in self.sweeps.plan(sweep_id) if p.index < point.index]
        self._reports: dict[int, tuple[Signature | None, dict[str, Any]]] = {}
        self._study: Any = None
        self._storage: Any = None  # the kept study's
        self._built: list[tuple[search_trials.Told | None, int]] = []  # each earlier trial's

    def decide(
        self, reported: Mapping[int, float], attrs: Mapping[str, Any]
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """Whether the pruner stops the trial with these intermediate values (and what
        it kept of the trial before, `attrs`): the step and value it stopped at (None:
        go on), and what the pruner keeps of the trial now."""
        results = search_trials.told(self.archive, self.sweep_id, self.search)
        earlier = [(p, results.get(p.index), self.report(p)) for p in self.earlier]
        built = [(result, id(report)) for _, result, report in earlier]  # read again: new
        if self._study is None or built != self._built or not self._extended(reported):
            self._study = self._build(earlier, reported, attrs)
            self._built = built
        study = self._study
        trial = study.get_trials(deepcopy=False)[-1]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stop = study.pruner.prune(study, trial)
        now = study.get_trials(deepcopy=False)[-1].system_attrs
        kept = {k: v for k, v in now.items() if number(v)}
        if not stop:
            return None, kept
        step = max(reported)
        return {"step": step, "value": reported[step], "pruner": self.pruning.pruner}, kept

    def report(self, point: Point) -> dict[str, Any]:
        """What trial `point` reported, read again only when its file changed."""
        known = self._reports.get(point.index)
        signature, data = self.sweeps.reread_intermediate(
            self.sweep_id, point.index, known[0] if known else None
        )
        if data is None:  # its file is as it was when read
            assert known is not None
            return known[1]
        self._reports[point.index] = (signature, data)
        return data

    def _build(
        self,
        earlier: list[tuple[Point, search_trials.Told | None, dict[str, Any]]],
        reported: Mapping[int, float],
        attrs: Mapping[str, Any],
    ) -> Any:
        """A study of the earlier trials as they are now, then this one, running."""
        optuna = self.optuna
        self._storage = optuna.storages.InMemoryStorage()
        study = optuna.create_study(
            storage=self._storage,
            direction=self.search.directions[0],
            pruner=_pruner(optuna, self.pruning.pruner),
        )
        for other, result, report in earlier:
            study.add_trial(_trial(optuna, self.space, other, result, report))
        study.add_trial(
            optuna.trial.create_trial(
                params={n: self.point.vars.get(n) for n in self.space},
                distributions=self.space,
                state=optuna.trial.TrialState.RUNNING,
                intermediate_values=dict(reported),
                system_attrs=dict(attrs),
            )
        )
        return study

    def _extended(self, reported: Mapping[int, float]) -> bool:
        """Give the kept study's trial the values it lacks of `reported`; False when it
        holds a step `reported` no longer has (then the study is built again)."""
        trial = self._study.get_trials(deepcopy=False)[-1]
        held = trial.intermediate_values
        if any(step not in reported for step in held):
            return False
        for step, value in reported.items():
            if held.get(step) != value:
                # `_trial_id`: Optuna's own handle of the trial in its storage
                self._storage.set_trial_intermediate_value(trial._trial_id, step, value)
        return True


def _trial(
    optuna: Any,
    space: dict[str, Any],
    point: Point,
    result: search_trials.Told | None,
    reported: Mapping[str, Any],
) -> Any:
    """An earlier trial as the rebuilt study holds it: its intermediate values, and how
    it ended (a trial whose values lie outside the space: a failed one, valueless)."""
    states = optuna.trial.TrialState
    if result is not None and result.excluded:
        return optuna.trial.create_trial(state=states.FAIL)  # keeps trial numbers as indexes
    state, values = search_study.outcome(optuna, result)
    try:
        return optuna.trial.create_trial(
            params={n: point.vars.get(n) for n in space},
            distributions=space,
            state=state,
            values=None if values is None else values[:1],  # a pruner's study: one objective
            intermediate_values=dict(zip(reported["steps"], reported["values"], strict=True)),
            system_attrs=dict(reported["attrs"]),
        )
    except ValueError:
        return optuna.trial.create_trial(state=states.FAIL)


def _pruner(optuna: Any, name: str) -> Any:
    pruners = optuna.pruners
    if name == "median":
        return pruners.MedianPruner(n_startup_trials=3)
    if name == "asha":
        return pruners.SuccessiveHalvingPruner()
    return pruners.HyperbandPruner()

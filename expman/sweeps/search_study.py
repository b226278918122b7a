"""An adaptive search's study: Optuna used as a library, in memory only, **the one
importer of Optuna** (only when a trial is asked or pruned). The study is built from the
sweep's plan and what each trial gave (`search_trials.told`), kept in this process and
told only what changed at the next ask, built again when what it holds no longer stands
(a trial taken out or pruned, another plan); no Optuna storage file exists.

A trial's sampler is seeded with (seed, index): with the same seed and the same history
(`--jobs 1`) a sweep asks the same trials again, those an in-process Optuna loop asks
with the same sampler (Optuna's defaults) seeded so.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from expman.errors import UsageError
from expman.store.archive import Archive
from expman.sweeps import plan
from expman.sweeps.search_definition import Search, choices
from expman.sweeps.search_trials import Told
from expman.sweeps.store import Sweeps
from expman.sweeps.values import checked

INSTALL = 'pip install "expman[search]"'


def trial_seed(seed: int, index: int) -> int:
    """The seed of trial `index`'s sampler: a function of (seed, index) alone."""
    digest = hashlib.sha256(f"expman-search:{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def next_values(
    archive: Archive,
    sweep_id: str,
    search: Search,
    specs: Sequence[plan.Spec],
    points: Sequence[plan.Point],
    results: Mapping[int, Told],
) -> tuple[dict[str, Any], dict[str, int]]:
    """The values of the next trial, a study rebuilt from the points asked once, and
    what its sampler keeps of the trial (`_state`)."""
    optuna = load_optuna()
    space = space_of(optuna, specs)
    wanted = []  # each point the study holds, as it should hold it
    for point in points:
        result = results.get(point.index)
        if result is None or not result.excluded:  # else removed from what the sampler sees
            wanted.append((point, result))
    study = _study(optuna, archive, sweep_id, search, space, wanted)
    study.sampler = _sampler(optuna, search, len(points))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # experimental samplers and pruners say so
        trial = study.ask(space)
    asked = study.get_trials(deepcopy=False)[-1]
    values = {name: checked(_plain(trial.params[name])) for name in space}
    return values, _state(asked.system_attrs)


Wanted = Sequence[tuple[plan.Point, "Told | None"]]


@dataclass
class _Kept:
    """A study this process built for a sweep, its space, and what each of its trials
    was built from (the plan's point, and what its runs told)."""

    study: Any
    space: dict[str, Any]
    shape: str
    built: list[tuple[plan.Point, Told | None]]
    reported: Callable[[int], Mapping[str, Any]]  # a pruned trial's values (`intermediate`)


# The studies this process built, by archive and sweep: asking again (a local sweep asks
# once per trial) only tells the study what changed, rather than rebuilding it from
# every trial (Optuna copies each trial added: O(trials) per ask).
_KEPT: dict[tuple[str, str], _Kept] = {}


def _study(
    optuna: Any,
    archive: Archive,
    sweep_id: str,
    search: Search,
    space: dict[str, Any],
    wanted: Wanted,
) -> Any:
    """A study holding exactly the trials `wanted` says, in order, as a rebuild from
    the archive would: the one kept from the last ask when what it holds still stands
    (trials running then may have ended since: they are told so), else a new one."""
    key = _key(archive, sweep_id)
    kept = _KEPT.get(key)
    shape = repr((sorted((k, repr(v)) for k, v in space.items()), search.directions))
    if kept is None or kept.shape != shape or not _caught_up(optuna, kept, wanted):
        study = optuna.create_study(directions=list(search.directions))
        reported = functools.partial(Sweeps(archive).intermediate, sweep_id)
        kept = _KEPT[key] = _Kept(study, space, shape, [], reported)
        _add(optuna, kept, wanted)
    return kept.study


def _key(archive: Archive, sweep_id: str) -> tuple[str, str]:
    return str(archive.root.resolve()), sweep_id


def forget(archive: Archive, sweep_id: str) -> None:
    """Drop the study kept for a sweep (it may hold a trial the plan has not)."""
    _KEPT.pop(_key(archive, sweep_id), None)


def note_asked(archive: Archive, sweep_id: str, point: plan.Point) -> None:
    """Note in the kept study that `point` was asked of it and appended to the plan:
    running, as the plan says."""
    kept = _KEPT.get(_key(archive, sweep_id))
    if kept is not None:
        kept.built.append((point, None))


def _caught_up(optuna: Any, kept: _Kept, wanted: Wanted) -> bool:
    """Bring the kept study up to `wanted`, when only new trials came and running ones
    ended (succeeded or failed) or still run; False when it cannot (a trial taken out or pruned, or
    not the plan it was built from): then it is built again."""
    if len(wanted) < len(kept.built):
        return False
    changed = []
    for n, ((was, before), (point, result)) in enumerate(zip(kept.built, wanted, strict=False)):
        if was is not point and was != point:  # the plan's point read again: as it was
            return False
        if result is before or result == before:  # the same told: unchanged
            continue
        was_running = before is None or before.running
        if not was_running or result is None or result.pruned:
            return False
        changed.append((n, result))  # ended, or asked then and running now: still running
    for n, result in changed:  # trial n of the study is the n-th it was built from
        if result.running:  # asked then, its run opened since: the study holds it running
            pass
        elif result.values is None:
            kept.study.tell(n, state=optuna.trial.TrialState.FAIL)
        else:
            kept.study.tell(n, list(result.values))
        kept.built[n] = (kept.built[n][0], result)
    _add(optuna, kept, wanted[len(kept.built) :])
    return True


def _add(optuna: Any, kept: _Kept, wanted: Wanted) -> None:
    for point, result in wanted:
        reported = kept.reported(point.index) if result is not None and result.pruned else None
        trial = _frozen(optuna, kept.space, point, result, reported)
        if trial is None:  # its values lie outside the space: a failed trial
            trial = optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL)
        kept.study.add_trial(trial)
        kept.built.append((point, result))


def _state(attrs: Mapping[str, Any]) -> dict[str, int]:
    """What a sampler keeps of a trial that the plan keeps too, to be given back: whole
    numbers only (NSGA-II's and CMA-ES's generation), never a text or an object, which
    a sampler may unpickle (a plan comes from an archive: untrusted)."""
    return {
        key: value
        for key, value in attrs.items()
        if isinstance(key, str) and len(key) <= 100 and type(value) is int
    }


def space_of(optuna: Any, specs: Sequence[plan.Spec]) -> dict[str, Any]:
    """The search space: each swept var's Optuna distribution."""
    return {spec.name: _distribution(optuna, spec) for spec in specs}


def _frozen(
    optuna: Any,
    space: dict[str, Any],
    point: plan.Point,
    result: Told | None,
    reported: Mapping[str, Any] | None = None,
) -> Any:
    """A point as a finished (or running) trial of the rebuilt study; None for one whose
    values lie outside the space (a damaged or hand-edited plan line)."""
    state, values = outcome(optuna, result)
    params = {name: point.vars.get(name) for name in space}
    kept = (point.origin or {}).get("state")
    try:
        return optuna.trial.create_trial(
            params=params,
            distributions=space,
            state=state,
            values=values,
            system_attrs=_state(kept) if isinstance(kept, dict) else None,
            intermediate_values=_intermediate(reported),
        )
    except ValueError:  # a value outside the space: the sampler cannot be told of it
        return None


def outcome(optuna: Any, result: Told | None) -> tuple[Any, list[float] | None]:
    """How a trial ended, as Optuna's state and its objective values (None but for a
    complete trial): pruned, still running (or not yet told), failed (no objective), or
    complete."""
    states = optuna.trial.TrialState
    if result is not None and result.pruned:
        return states.PRUNED, None
    if result is None or result.running:
        return states.RUNNING, None
    if result.values is None:
        return states.FAIL, None
    return states.COMPLETE, list(result.values)


def _intermediate(reported: Mapping[str, Any] | None) -> dict[int, float]:
    """A trial's reported values (`Sweeps.intermediate`) by step."""
    if reported is None:
        return {}
    return dict(zip(reported["steps"], reported["values"], strict=True))


def _plain(value: Any) -> Any:
    """A sampled value as plain Python (numpy's numbers are not JSON)."""
    if hasattr(value, "item"):
        return value.item()
    return value


def _distribution(optuna: Any, spec: plan.Spec) -> Any:
    distributions = optuna.distributions
    options = choices(spec)
    if options is not None:
        return distributions.CategoricalDistribution(options)
    low, high = spec.args
    if spec.kind == "int":
        return distributions.IntDistribution(int(low), int(high))
    return distributions.FloatDistribution(float(low), float(high), log=spec.kind == "loguniform")


def _sampler(optuna: Any, search: Search, index: int) -> Any:
    seed = trial_seed(search.seed, index)
    samplers = optuna.samplers
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "experimental" warnings of some samplers
        if search.sampler == "tpe":  # Optuna's defaults (multivariate or not): its TPE
            return samplers.TPESampler(seed=seed, constant_liar=True)
        _needs(search.sampler)
        if search.sampler == "cmaes":
            # A var of choices is drawn apart: said once, when the sweep is made.
            return samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
        if search.sampler == "gp":
            return samplers.GPSampler(seed=seed)
        if search.sampler == "nsga2":
            return samplers.NSGAIISampler(seed=seed)
        if search.sampler == "qmc":
            return _qmc(samplers.QMCSampler, search.seed, index)
        return samplers.RandomSampler(seed=seed)


def _qmc(base: type, seed: int, index: int) -> Any:
    """Optuna's QMC sampler, taking sample `index` of its sequence: the sampler counts
    the samples it gave in its study's storage, which a rebuilt study does not have."""

    class Sampler(base):  # type: ignore[misc]
        def _find_sample_id(self, study: Any, search_space: Any) -> int:
            return index

    return Sampler(seed=seed, scramble=True)


# What a sampler needs besides Optuna (which Optuna imports only when the sampler is made).
_NEEDS = {"cmaes": ("cmaes",), "gp": ("torch", "scipy"), "qmc": ("scipy",)}


def _needs(sampler: str) -> None:
    """A `UsageError` naming the package `sampler` needs and lacks."""
    import importlib.util

    for module in _NEEDS.get(sampler, ()):
        if importlib.util.find_spec(module) is None:
            raise UsageError(
                f"--search {sampler} needs the Python package {module}: pip install {module}"
            )


def ready(sampler: str) -> None:
    """Refuse now, before anything is made or changed, a search that could not ask its
    first trial: Optuna, or a package `sampler` needs, not installed."""
    load_optuna()
    _needs(sampler)


def load_optuna() -> Any:
    """Optuna, quiet; a `UsageError` saying how to install it when it is absent."""
    try:
        import optuna
    except ImportError as e:
        raise UsageError(f"adaptive search uses Optuna, which is not installed: {INSTALL}") from e
    optuna.logging.set_verbosity(logging.WARNING)
    return optuna

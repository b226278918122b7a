"""Adaptive search (SPEC §16): a sweep whose points are asked of an Optuna sampler one at
a time, each as an ordinary run of the sweep.

Optuna is used as a library, in memory only: each time a trial is asked for, a study is
built afresh from the archive (every point of the plan, told what its runs gave: the
objectives of its succeeded run, failed, or still running), asked for one trial, and
dropped. The archive stays the only truth; no Optuna storage file exists. The asked
trial is appended to the sweep's plan (`Sweeps.append`) under the sweep folder's lock,
so that two askers (two workers, two resumes) never ask for one trial twice, and the
plan's length is the number of trials asked: the budget.

A trial's sampler is seeded with (seed, index): with the same seed and the same history
(`--jobs 1`) a sweep asks the same trials again, those an in-process Optuna loop asks
with the same sampler (Optuna's defaults) seeded so. The objectives are JMESPath expressions
over the run's record (`series.val_loss.min`, `metrics.acc`); a succeeded run whose
objective is not a finite number is told to the sampler as failed.

Optuna is imported only here, and only when a trial is asked or a search is checked:
`import expman` and every other command stay free of it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from expman import fsutil
from expman.errors import ArchiveError, QueryError, UsageError
from expman.store import index, record
from expman.store.archive import Archive
from expman.store.query import Query
from expman.sweeps import plan
from expman.sweeps.store import TRIAL_TAG, Sweeps
from expman.sweeps.values import checked, number

SAMPLERS = ("tpe", "cmaes", "gp", "nsga2", "random", "qmc")
PRUNERS = ("median", "asha", "hyperband")
DIRECTIONS = ("minimize", "maximize")
MAX_TRIALS = 100_000
INSTALL = 'pip install "expman[search]"'


@dataclass(frozen=True)
class Pruning:
    """How a search stops hopeless trials early (`sweeps.prune`): the pruner, and the
    series (by name) whose values it compares."""

    pruner: str
    metric: str

    def as_data(self) -> dict[str, Any]:
        """The pruning as JSON-ready data."""
        return {"pruner": self.pruner, "metric": self.metric}


@dataclass(frozen=True)
class Search:
    """How a sweep searches: the sampler, the budget of trials, the objectives (JMESPath
    over the record) and whether each is minimised or maximised, the seed."""

    sampler: str
    trials: int
    objectives: tuple[str, ...]
    directions: tuple[str, ...]
    seed: int = 0
    prune: Pruning | None = None

    def as_data(self) -> dict[str, Any]:
        """The search as JSON-ready data (kept in the sweep's definition)."""
        data: dict[str, Any] = {
            "sampler": self.sampler,
            "trials": self.trials,
            "objectives": list(self.objectives),
            "directions": list(self.directions),
            "seed": self.seed,
        }
        if self.prune is not None:
            data["prune"] = self.prune.as_data()
        return data


class SearchError(UsageError):
    """A search that cannot be; `key` is the part at fault, as a named sweep's
    `search:` block spells it (sampler, trials, objective, direction)."""

    def __init__(self, key: str, option: str, problem: str) -> None:
        self.key, self.problem = key, problem
        super().__init__(f"{option}: {problem}")


@dataclass(frozen=True)
class Asked:
    """What the command line says of a search (`--search`, `--trials`, `--objective`,
    `--direction`); a named sweep's `search:` block gives what it leaves out."""

    sampler: str | None = None
    trials: int | None = None
    objectives: tuple[str, ...] = ()
    directions: tuple[str, ...] = ()
    prune: str | None = None
    prune_metric: str | None = None

    def given(self) -> bool:
        """Whether the command line says anything of a search."""
        return bool(
            self.sampler
            or self.trials is not None
            or self.objectives
            or self.directions
            or self.prune
            or self.prune_metric
        )


def search_of(
    sampler: str,
    trials: int | None,
    objectives: Sequence[str],
    directions: Sequence[str],
    seed: int | None,
    prune: Pruning | None = None,
) -> Search:
    """A search from what a person gave; `SearchError` saying what is wrong."""
    if sampler not in SAMPLERS:
        raise SearchError(
            "sampler", f"--search {sampler}", f"not a sampler ({', '.join(SAMPLERS)})"
        )
    if trials is None or not 1 <= trials <= MAX_TRIALS:
        problem = f"a search needs a number of trials, from 1 to {MAX_TRIALS:,}"
        raise SearchError("trials", f"--trials {trials}", problem)
    if not objectives:
        problem = "a search needs an objective (JMESPath over the record)"
        raise SearchError("objective", "--objective", problem)
    for text in objectives:
        try:
            Query(text)
        except QueryError as e:
            raise SearchError("objective", f"--objective {text}", str(e)) from e
    for direction in directions:
        if direction not in DIRECTIONS:
            raise SearchError("direction", f"--direction {direction}", "minimize or maximize")
    if len(directions) > 1 and len(directions) != len(objectives):
        problem = (
            f"{len(directions)} directions for {len(objectives)} objectives: give one "
            "(for every objective) or one per objective"
        )
        raise SearchError("direction", "--direction", problem)
    chosen = tuple(directions) * (len(objectives) if len(directions) == 1 else 1)
    if len(objectives) > 1 and sampler in ("cmaes", "gp"):
        problem = "optimises one objective: nsga2 or tpe take several"
        raise SearchError("sampler", f"--search {sampler}", problem)
    if prune is not None and len(objectives) > 1:
        problem = "a Pareto search (several objectives) cannot prune: give one objective"
        raise SearchError("prune", f"--prune {prune.pruner}", problem)
    directions = chosen or ("minimize",) * len(objectives)
    return Search(sampler, trials, tuple(objectives), directions, seed or 0, prune)


def pruning_of(pruner: str | None, metric: str | None) -> Pruning | None:
    """Pruning from what a person gave (None: none); `SearchError` saying what is wrong."""
    if pruner is None:
        if metric is not None:
            raise SearchError("prune", f"--prune-metric {metric}", "goes with --prune PRUNER")
        return None
    if pruner not in PRUNERS:
        raise SearchError("prune", f"--prune {pruner}", f"not a pruner ({', '.join(PRUNERS)})")
    if not isinstance(metric, str) or not 0 < len(metric) <= 200:
        problem = "a pruner needs the series it watches: --prune-metric NAME"
        raise SearchError("prune", f"--prune {pruner}", problem)
    return Pruning(pruner, metric)


def merged(asked: Asked, block: Mapping[str, Any] | None, seed: int | None) -> Search:
    """The search the command line (`asked`) and a named sweep's `search:` block give
    together, the command line winning; `SearchError` when they give no search."""
    block = block or {}
    given = block.get("prune")
    pruned: Mapping[str, Any] = given if isinstance(given, dict) else {}
    return search_of(
        asked.sampler or block.get("sampler") or "",
        asked.trials if asked.trials is not None else block.get("trials"),
        asked.objectives or _listed(block.get("objective")),
        asked.directions or _listed(block.get("direction")),
        seed,
        pruning_of(asked.prune or pruned.get("pruner"), asked.prune_metric or pruned.get("metric")),
    )


def _listed(value: Any) -> tuple[str, ...]:
    """A block's `objective` or `direction`: one text, or a list of them."""
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def stored(definition: Mapping[str, Any]) -> Search | None:
    """The search a sweep's stored definition holds (None: not an adaptive sweep)."""
    data = definition.get("search")
    if data is None:
        return None
    try:
        prune = data.get("prune")
        return Search(
            str(data["sampler"]),
            int(data["trials"]),
            tuple(str(o) for o in data["objectives"]),
            tuple(str(d) for d in data["directions"]),
            int(data["seed"]),
            Pruning(str(prune["pruner"]), str(prune["metric"])) if prune is not None else None,
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ArchiveError(f"the sweep's stored search is damaged: {e!r}") from e


def with_trials(search: Search, trials: int) -> Search:
    """`search` with its budget raised to `trials` (a budget never shrinks)."""
    if trials < search.trials:
        raise UsageError(f"--trials {trials}: the sweep has a budget of {search.trials}")
    if trials > MAX_TRIALS:
        raise UsageError(f"--trials {trials}: more than {MAX_TRIALS:,}")
    return dataclasses.replace(search, trials=trials)


def check_specs(specs: Sequence[plan.Spec]) -> None:
    """Refuse specs a sampler cannot search over, drawing nothing."""
    if not specs:
        raise UsageError("nothing to search: give -s NAME=SPEC (loguniform(1e-5,1e-1), ...)")
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise plan.PlanError(f"{spec.name} is searched twice", ("vars", spec.name))
        seen.add(spec.name)
        _choices(spec)


def ask(
    archive: Archive, sweep_id: str, results: Mapping[int, Told] | None = None
) -> plan.Point | None:
    """Ask the sampler for the sweep's next trial and append it to the plan, under the
    sweep's lock; None when the budget is spent. `results`: what the points gave
    (`told`), read by the caller just before (else read here): a trial that ended since
    is told as running, as any trial in flight is."""
    sweeps = Sweeps(archive)
    with fsutil.locked(sweeps.folder(sweep_id)):
        data = sweeps.read(sweep_id)
        search = stored(data["definition"])
        if search is None:
            raise ArchiveError(f"sweep {sweep_id} is not an adaptive search")
        points = sweeps.plan(sweep_id)
        if len(points) >= search.trials:
            return None
        specs = specs_of(data["definition"])
        try:
            if results is None:
                results = told(archive, sweep_id, search)
            point = _asked(archive, sweep_id, search, specs, points, data["graph"], results)
            sweeps.append(sweep_id, point)
        except BaseException:
            _KEPT.pop(_key(archive, sweep_id), None)  # it may hold a trial the plan has not
            raise
        kept = _KEPT.get(_key(archive, sweep_id))
        if kept is not None:  # the trial it was asked for: running, as the plan says
            kept.built.append((point.index, point.hash, None))
        return point


def _asked(
    archive: Archive,
    sweep_id: str,
    search: Search,
    specs: Sequence[plan.Spec],
    points: Sequence[plan.Point],
    graph: str,
    results: Mapping[int, Told],
) -> plan.Point:
    """The next trial as a point of the plan, with its origin."""
    asked, state = _next_values(archive, sweep_id, search, specs, points, results)
    origin: dict[str, Any] = {
        "sampler": search.sampler,
        "seed": trial_seed(search.seed, len(points)),
    }
    if state:
        origin["state"] = state
    return plan.Point(len(points), asked, plan.point_hash(asked, graph), origin)


def trial_seed(seed: int, index: int) -> int:
    """The seed of trial `index`'s sampler: a function of (seed, index) alone."""
    digest = hashlib.sha256(f"expman-search:{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


@dataclass(frozen=True)
class Told:
    """What a point's runs gave: its objective values when one succeeded (None: failed,
    or no finite number), or that it is still running."""

    index: int
    values: tuple[float, ...] | None
    running: bool = False
    pruned: bool = False  # stopped early by the pruner: finished, not failed
    excluded: bool = False  # its run removed (`expman rm`) or tagged `-trial`: unseen


def told(archive: Archive, sweep_id: str, search: Search) -> dict[int, Told]:
    """What each point of the sweep gave, by index (points never run are left out). A
    trial whose runs were removed (`expman rm`) or lost their tag `trial` (`expman tag
    N -trial`) is `excluded`: the sampler never sees it, and no resume runs it again."""
    queries = [Query(text) for text in search.objectives]
    wanted = {"sweep", "status", "ended", "tags", "tag_changes", "origin"}.union(
        *(q.fields() for q in queries)
    )
    runs, _ = index.load(archive, wanted)
    by_point: dict[int, list[Any]] = {}
    for run in runs:
        tag = run.get("sweep")
        if not isinstance(tag, dict) or tag.get("id") != sweep_id or run.get("origin"):
            continue  # another sweep's, or copied from another archive
        position = tag.get("index")
        if isinstance(position, int):
            by_point.setdefault(position, []).append(run)
    found = {}
    for i, mine in by_point.items():
        kept = [run for run in mine if not _untagged(run)]
        found[i] = _told(i, kept, queries) if kept else Told(i, None, excluded=True)
    sweeps = Sweeps(archive)
    for i in sweeps.noted(sweep_id) - set(by_point):
        if (sweeps.result(sweep_id, i) or {}).get("run"):  # it ran; its run is gone
            found[i] = Told(i, None, excluded=True)
    return found


def _untagged(run: Any) -> bool:
    """Whether a trial's run had its tag `trial` taken away (`expman tag N -trial`); a
    run that never got it (its point killed as it opened it) stays a trial."""
    tags, changes = run.get("tags"), run.get("tag_changes")
    if not isinstance(tags, list) or TRIAL_TAG in tags or not isinstance(changes, list):
        return False
    return any(
        isinstance(change, dict) and TRIAL_TAG in (change.get("remove") or []) for change in changes
    )


def _told(index: int, runs: Sequence[Any], queries: Sequence[Query]) -> Told:
    """A point's runs (oldest first) as the sampler is told of them."""
    for run in runs:
        if run.get("status") == record.SUCCEEDED:
            return Told(index, _objectives(queries, run))
    for run in runs:
        if isinstance(run["sweep"].get("pruned"), dict):
            return Told(index, None, pruned=True)
    return Told(index, None, running=runs[-1].get("ended") is None)


def best(search: Search, results: Mapping[int, Told]) -> list[Told]:
    """The best trials: the one best value for one objective, the Pareto front (no trial
    better in every objective) for several; in index order."""
    signs = [1.0 if d == "minimize" else -1.0 for d in search.directions]
    keyed = sorted(
        (tuple(s * v for s, v in zip(signs, t.values, strict=True)), t.index, t)
        for t in results.values()
        if t.values is not None
    )
    if len(search.objectives) == 1:
        return [keyed[0][2]] if keyed else []
    # In this order a trial comes after every trial that dominates it, and a trial
    # dominated by any is dominated by one on the front: one pass over the front.
    front: list[tuple[tuple[float, ...], Told]] = []
    for key, _, t in keyed:
        if not any(_dominates(other, key) for other, _ in front):
            front.append((key, t))
    return sorted((t for _, t in front), key=lambda t: t.index)


def _dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return all(x <= y for x, y in zip(a, b, strict=True)) and a != b


def _objectives(queries: Sequence[Query], run: Any) -> tuple[float, ...] | None:
    values = []
    for query in queries:
        try:
            value = query.search(run)
        except QueryError:
            return None
        if not number(value) or not math.isfinite(value):
            return None
        values.append(float(value))
    return tuple(values)


def specs_of(definition: Mapping[str, Any]) -> list[plan.Spec]:
    try:
        return [
            plan.Spec(s["name"], tuple(s["values"]), s["kind"], tuple(s["args"]), s.get("text", ""))
            for s in definition["specs"]
        ]
    except (KeyError, TypeError) as e:
        raise ArchiveError(f"the sweep's stored definition is damaged: {e!r}") from e


def _next_values(
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
    sweeps = Sweeps(archive)
    wanted = []  # each point the study holds, as it should hold it
    for point in points:
        result = results.get(point.index)
        if result is not None and result.excluded:
            continue  # removed from what the sampler sees
        reported = sweeps.intermediate(sweep_id, point.index) if result and result.pruned else None
        wanted.append((point, result, reported))
    study = _study(optuna, archive, sweep_id, search, space, wanted)
    study.sampler = _sampler(optuna, search, len(points))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # experimental samplers and pruners say so
        trial = study.ask(space)
    asked = study.get_trials(deepcopy=False)[-1]
    values = {name: checked(_plain(trial.params[name])) for name in space}
    return values, _state(asked.system_attrs)


Wanted = Sequence[tuple[plan.Point, "Told | None", "Mapping[str, Any] | None"]]


@dataclass
class _Kept:
    """A study this process built for a sweep, its space, and what each of its trials
    was built from (the point's index and hash, and what its runs told)."""

    study: Any
    space: dict[str, Any]
    shape: str
    built: list[tuple[int, str, Told | None]]


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
        kept = _KEPT[key] = _Kept(study, space, shape, [])
        _add(optuna, kept, wanted)
    return kept.study


def _key(archive: Archive, sweep_id: str) -> tuple[str, str]:
    return str(archive.root.resolve()), sweep_id


def _caught_up(optuna: Any, kept: _Kept, wanted: Wanted) -> bool:
    """Bring the kept study up to `wanted`, when only new trials came and running ones
    ended (succeeded or failed) or still run; False when it cannot (a trial taken out or pruned, or
    not the plan it was built from): then it is built again."""
    if len(wanted) < len(kept.built):
        return False
    changed = []
    for n, (built, (point, result, _)) in enumerate(zip(kept.built, wanted, strict=False)):
        index, hash_, before = built
        if (index, hash_) != (point.index, point.hash):
            return False
        if result == before:
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
        index, hash_, _ = kept.built[n]
        kept.built[n] = (index, hash_, result)
    _add(optuna, kept, wanted[len(kept.built) :])
    return True


def _add(optuna: Any, kept: _Kept, wanted: Wanted) -> None:
    for point, result, reported in wanted:
        trial = _frozen(optuna, kept.space, point, result, reported)
        if trial is None:  # its values lie outside the space: a failed trial
            trial = optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL)
        kept.study.add_trial(trial)
        kept.built.append((point.index, point.hash, result))


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


def _choices(spec: plan.Spec) -> tuple[Any, ...] | None:
    """A spec's choices (None: a range the sampler draws from); `PlanError` when a
    choice is not a number, text or boolean."""
    if spec.kind in ("uniform", "loguniform", "int"):
        return None
    options = spec.args if spec.kind == "choice" else spec.values
    for option in options:
        if not isinstance(option, str | int | float | bool):
            raise plan.PlanError(
                f"a search chooses among numbers, text and booleans, not {option!r}",
                ("vars", spec.name),
                spec.option,
            )
    return tuple(options)


def _distribution(optuna: Any, spec: plan.Spec) -> Any:
    distributions = optuna.distributions
    choices = _choices(spec)
    if choices is not None:
        return distributions.CategoricalDistribution(choices)
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
        if search.sampler == "cmaes":
            _needs("cmaes", "--search cmaes")
            return samplers.CmaEsSampler(seed=seed)
        if search.sampler == "gp":
            _needs("torch", "--search gp")
            _needs("scipy", "--search gp")
            return samplers.GPSampler(seed=seed)
        if search.sampler == "nsga2":
            return samplers.NSGAIISampler(seed=seed)
        if search.sampler == "qmc":
            _needs("scipy", "--search qmc")
            return _qmc(samplers.QMCSampler, search.seed, index)
        return samplers.RandomSampler(seed=seed)


def _qmc(base: type, seed: int, index: int) -> Any:
    """Optuna's QMC sampler, taking sample `index` of its sequence: the sampler counts
    the samples it gave in its study's storage, which a rebuilt study does not have."""

    class Sampler(base):  # type: ignore[misc]
        def _find_sample_id(self, study: Any, search_space: Any) -> int:
            return index

    return Sampler(seed=seed, scramble=True)


def _needs(module: str, option: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise UsageError(f"{option} needs the Python package {module}: pip install {module}")


def load_optuna() -> Any:
    """Optuna, quiet; a `UsageError` saying how to install it when it is absent."""
    try:
        import optuna
    except ImportError as e:
        raise UsageError(f"adaptive search uses Optuna, which is not installed: {INSTALL}") from e
    optuna.logging.set_verbosity(logging.WARNING)
    return optuna

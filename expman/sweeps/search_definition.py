"""What an adaptive search is (SPEC §16): the sampler, the budget of trials, the
objectives (JMESPath over the record) and their directions, the seed, the pruning; read
from what a person gives (`--search`, `--trials`, ... over a named sweep's `search:`
block) and from a sweep's stored definition, each problem said with the option or key at
fault. Pure: no Optuna, no archive.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from expman.errors import ArchiveError, QueryError, UsageError
from expman.store.query import Query
from expman.sweeps import plan

SAMPLERS = ("tpe", "cmaes", "gp", "nsga2", "random", "qmc")
PRUNERS = ("median", "asha", "hyperband")
DIRECTIONS = ("minimize", "maximize")
MAX_TRIALS = 100_000


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
        choices(spec)


def specs_of(definition: Mapping[str, Any]) -> list[plan.Spec]:
    try:
        return [
            plan.Spec(s["name"], tuple(s["values"]), s["kind"], tuple(s["args"]), s.get("text", ""))
            for s in definition["specs"]
        ]
    except (KeyError, TypeError) as e:
        raise ArchiveError(f"the sweep's stored definition is damaged: {e!r}") from e


def choices(spec: plan.Spec) -> tuple[Any, ...] | None:
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

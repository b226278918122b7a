"""The best trials of an adaptive search: the one best value for one objective, the
Pareto front for several. Pure: from what the trials gave (`search_trials.told`).
"""

from __future__ import annotations

from collections.abc import Mapping

from expman.sweeps.search_definition import Search
from expman.sweeps.search_trials import Told


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

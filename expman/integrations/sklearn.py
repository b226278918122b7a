"""A scikit-learn search's `cv_results_` as metric series: one point per candidate.

`log_search(search)` after `search.fit(...)` (`GridSearchCV`, `RandomizedSearchCV`, the
halving searches, or any object with a `cv_results_` mapping, or that mapping itself).
Candidate i is step i; its numeric columns are the metrics (`mean_test_score`,
`std_test_score`, `rank_test_score`, `mean_fit_time`, numeric parameters as `param_C`, ...),
so the record's `series.mean_test_score.max_step` is the best candidate's index. Text and
boolean parameters, and a parameter a candidate does not have, are left out of its point.
Imports neither scikit-learn nor NumPy: it reads the columns with their `tolist()`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import expman
from expman.integrations import log_values


def log_search(search: object, *, splits: bool = False) -> None:
    """Log each candidate of a fitted search as one point of `expman.log`, step = its index.

    `splits=True` logs each fold's scores too (`split0_test_score`, ...). Never raises: an
    object that holds no search results is said once on stderr, as `expman.log` says its
    problems, and nothing is logged.
    """
    results = search if isinstance(search, Mapping) else getattr(search, "cv_results_", None)
    params = results.get("params") if isinstance(results, Mapping) else None
    tolist = getattr(params, "tolist", None)  # a NumPy array of them
    candidates = tolist() if callable(tolist) else params
    if (
        not isinstance(results, Mapping)
        or not isinstance(candidates, Sequence)
        or isinstance(candidates, (str, bytes))
    ):
        expman._warn(
            "search",
            "expman.integrations.sklearn.log_search: no cv_results_ (is the search fitted?) "
            "or its params are no list: nothing is logged",
        )
        return
    columns = {
        str(name): _values(column)
        for name, column in results.items()
        if name != "params" and (splits or not str(name).startswith("split"))
    }
    for index in range(len(candidates)):
        point = {name: _number(values, index) for name, values in columns.items()}
        log_values(index, {name: value for name, value in point.items() if value is not None})


def _values(column: object) -> Sequence[object]:
    """A column as a list: a masked entry (a parameter this candidate lacks) is None."""
    tolist = getattr(column, "tolist", None)
    values = tolist() if callable(tolist) else column
    return values if isinstance(values, Sequence) and not isinstance(values, str) else []


def _number(values: Sequence[object], index: int) -> int | float | None:
    value = values[index] if index < len(values) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value

"""`expman.integrations.sklearn`: a real scikit-learn search's candidates as series."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import RunCli, records
from tests.integrations.conftest import need

SEARCH = """\
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV
from sklearn.svm import SVC

X, y = make_classification(n_samples=60, n_features=4, random_state=0)
grid = [
    {"kernel": ["linear"], "C": [0.1, 1.0]},
    {"kernel": ["rbf"], "C": [1.0], "gamma": [0.1, 1.0]},
]
search = GridSearchCV(SVC(), grid, cv=3).fit(X, y)
"""


def _search() -> object:
    need("sklearn")
    namespace: dict[str, object] = {}
    exec(SEARCH, namespace)
    return namespace["search"]


def _points(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow  # scikit-learn takes seconds to import
def test_each_candidate_is_a_point_with_its_numeric_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from expman.integrations.sklearn import log_search

    search = _search()
    target = tmp_path / "series.jsonl"
    monkeypatch.setenv("EXPMAN_METRICS", str(target))
    log_search(search)
    points = _points(target)
    results = search.cv_results_  # type: ignore[attr-defined]
    assert [p["step"] for p in points] == [0, 1, 2, 3]
    assert [p["param_C"] for p in points] == [0.1, 1.0, 1.0, 1.0]
    assert [p.get("param_gamma") for p in points] == [None, None, 0.1, 1.0]  # masked: left out
    assert all("param_kernel" not in p and "params" not in p for p in points)  # text
    assert [p["mean_test_score"] for p in points] == results["mean_test_score"].tolist()
    assert [p["rank_test_score"] for p in points] == results["rank_test_score"].tolist()
    assert all(not any(k.startswith("split") for k in p) for p in points)
    assert sorted(points[0]) == [
        "mean_fit_time",
        "mean_score_time",
        "mean_test_score",
        "param_C",
        "rank_test_score",
        "std_fit_time",
        "std_score_time",
        "std_test_score",
        "step",
    ]
    target.unlink()
    log_search(results, splits=True)  # the mapping itself, each fold too
    points = _points(target)
    assert [p["split2_test_score"] for p in points] == results["split2_test_score"].tolist()


@pytest.mark.slow  # scikit-learn takes seconds to import
def test_an_unfitted_search_logs_nothing_and_says_so_once(tmp_path: Path) -> None:
    need("sklearn")
    target = tmp_path / "series.jsonl"
    script = (
        "from sklearn.model_selection import GridSearchCV\n"
        "from sklearn.svm import SVC\n"
        "from expman.integrations.sklearn import log_search\n"
        "search = GridSearchCV(SVC(), {'C': [1.0]})\n"
        "log_search(search)\nlog_search(None)\nprint('on')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "EXPMAN_METRICS": str(target)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and done.stdout == "on\n", done.stderr
    assert done.stderr.count("no cv_results_ (is the search fitted?)") == 1
    assert not target.exists()


def test_results_whose_params_are_no_list_log_nothing_and_never_raise(tmp_path: Path) -> None:
    target = tmp_path / "series.jsonl"
    script = (
        "from expman.integrations.sklearn import log_search\n"
        "log_search({'params': 5, 'mean_test_score': [0.5]})\n"
        "log_search({'params': None})\n"
        "log_search({'params': 'ab', 'mean_test_score': [0.5, 0.6]})\n"
        "import numpy\n"
        "log_search({'params': numpy.array([{}, {}]), 'mean_test_score': numpy.array([.5, .6])})\n"
        "print('on')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "EXPMAN_METRICS": str(target)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and done.stdout == "on\n", done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.count("no cv_results_ (is the search fitted?)") == 1
    assert _points(target) == [  # params as an array: each a candidate
        {"step": 0, "mean_test_score": 0.5},
        {"step": 1, "mean_test_score": 0.6},
    ]


@pytest.mark.slow  # scikit-learn takes seconds to import
def test_outside_a_run_a_search_logs_nothing_and_writes_nothing(tmp_path: Path) -> None:
    need("sklearn")
    env = {k: v for k, v in os.environ.items() if k != "EXPMAN_METRICS"}
    script = SEARCH + "from expman.integrations.sklearn import log_search\nlog_search(search)\n"
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_a_run_records_the_search_and_its_best_candidate(
    experiment: Callable[..., Path], run_cli: RunCli
) -> None:
    search = _search()
    script = SEARCH + ("from expman.integrations.sklearn import log_search\nlog_search(search)\n")
    expfile = (
        "version: 1\nname: search\nstages:\n"
        f'  run: {{cmd: {sys.executable} search.py}}\n  fetch: {{cmd: "true"}}\n'
    )
    root = experiment(expfile, **{"search.py": script})
    code, _, err = run_cli("run")
    assert code == 0, err
    summary = records(root)[-1]["series"]
    best = search.best_index_  # type: ignore[attr-defined]
    assert summary["mean_test_score"]["count"] == 4
    assert summary["rank_test_score"]["min_step"] == best
    scores = search.cv_results_["mean_test_score"]  # type: ignore[attr-defined]
    assert math.isclose(summary["mean_test_score"]["max"], scores[best])
    assert summary["param_C"] == {
        "count": 4,
        "first": 0.1,
        "last": 1.0,
        "min": 0.1,
        "min_step": 0,
        "max": 1.0,
        "max_step": 1,
    }

"""Metric series (`$EXPMAN_METRICS`, `expman.log`): read as they grow, summarised, stored."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from expman.observe import curve, series, seriesreader
from tests.conftest import RunCli, records

LOGGING_TEMPLATE = """\
version: 1
name: curves
vars: {N: 30}
stages:
  run:
    cmd: PYTHON train.py
  post-run:
    cmd: 'echo ''{"step": 99, "val": 0.5}'' >> "$EXPMAN_METRICS"'
  fetch: {cmd: "true"}
"""

LOGGING = LOGGING_TEMPLATE.replace("PYTHON", sys.executable)

TRAIN = """\
import os
import expman

n = int(os.environ["N"])
for i in range(n):
    expman.log(step=i, loss=1.0 / (i + 1), acc=i / n)
expman.log(loss=float("nan"))  # no step: its line's position serves
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_torn_last_line_waits_until_the_file_is_complete(tmp_path: Path) -> None:
    path = _write(tmp_path / "s.jsonl", '{"step": 1, "loss": 2}\n{"step": 2, "lo')
    reader = seriesreader.Reader(path)
    reader.poll()
    assert reader.summary()["loss"]["count"] == 1
    with path.open("a") as f:
        f.write('ss": 1.5}\n{"step": 3, "loss": 1}')
    reader.poll()
    assert reader.summary()["loss"]["count"] == 2
    reader.poll(complete=True)  # the writer is gone: the unterminated line parses, so it counts
    summary = reader.summary()["loss"]
    assert summary == {
        "count": 3,
        "first": 2,
        "last": 1,
        "min": 1,
        "min_step": 3,
        "max": 2,
        "max_step": 1,
    }
    assert reader.problem() is None


def test_a_torn_last_line_that_does_not_parse_is_ignored(tmp_path: Path) -> None:
    path = _write(tmp_path / "s.jsonl", '{"step": 1, "loss": 2}\n{"step": 2, "lo')
    reader = seriesreader.Reader(path)
    reader.poll(complete=True)
    assert reader.summary()["loss"]["count"] == 1
    assert reader.problem() is None


def test_lines_that_are_not_objects_are_skipped_and_counted(tmp_path: Path) -> None:
    lines = ['{"step": 0, "loss": 3}', "not json", "[1, 2]", "", '{"step": 1, "loss": 1}']
    path = _write(tmp_path / "s.jsonl", "\n".join(lines) + "\n")
    reader = seriesreader.Reader(path)
    reader.poll(complete=True)
    assert reader.summary()["loss"]["count"] == 2
    assert reader.problem() == "2 lines are skipped (the first: line 2): not a JSON object (2)"


def test_non_numbers_are_not_metrics_and_non_finite_values_are_counted(tmp_path: Path) -> None:
    lines = [
        {"step": 0, "loss": 2.0, "note": "warm-up", "ok": True, "nested": {"a": 1}},
        {"step": 1, "loss": float("inf")},
        {"step": 2, "loss": 1.0},
        {"step": 3, "loss": float("nan")},
    ]
    path = _write(tmp_path / "s.jsonl", "".join(json.dumps(x) + "\n" for x in lines))
    reader = seriesreader.Reader(path)
    reader.poll(complete=True)
    assert list(reader.summary()) == ["loss"]
    loss = reader.summary()["loss"]
    assert loss["count"] == 4 and loss["last"] == "NaN"
    assert (loss["min"], loss["min_step"], loss["max"], loss["max_step"]) == (1.0, 2, 2.0, 0)
    assert reader.sampled()["loss"] == {"step": [0, 1, 2, 3], "value": [2.0, None, 1.0, None]}


@pytest.mark.slow
def test_a_long_series_is_sampled_to_a_bounded_curve_that_keeps_its_extremes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.jsonl"
    with path.open("w") as f:
        for i in range(200_000):
            value = 1000.0 if i == 123_457 else -5.0 if i == 7 else math.sin(i / 1000)
            f.write(json.dumps({"step": i * 10, "x": value}) + "\n")
    reader = seriesreader.Reader(path)
    reader.poll(complete=True)
    sampled = reader.sampled()["x"]
    assert 100 < len(sampled["step"]) <= 4 * curve.BUCKETS
    assert sampled["step"] == sorted(sampled["step"])
    assert sampled["step"][0] == 0 and sampled["step"][-1] == 1_999_990
    assert 1000.0 in sampled["value"] and -5.0 in sampled["value"]
    summary = reader.summary()["x"]
    assert (summary["max"], summary["max_step"]) == (1000.0, 1_234_570)
    assert (summary["min"], summary["min_step"]) == (-5.0, 70)


def test_tail_gives_the_latest_values_without_reading_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    with path.open("w") as f:
        for i in range(100_000):
            f.write(json.dumps({"step": i, "loss": i}) + "\n")
    latest = seriesreader.tail(path, points=5)
    assert latest == {"loss": [99_995.0, 99_996.0, 99_997.0, 99_998.0, 99_999.0]}


def test_a_run_records_the_summary_and_stores_the_series(
    experiment: Callable[..., Path], run_cli: RunCli
) -> None:
    root = experiment(LOGGING, **{"train.py": TRAIN})
    code, _, err = run_cli("run")
    assert code == 0, err
    run = records(root)[0]
    loss = run["series"]["loss"]
    assert loss["count"] == 31 and loss["first"] == 1.0 and loss["last"] == "NaN"
    assert (loss["min"], loss["min_step"]) == (1.0 / 30, 29)
    assert run["series"]["val"] == {
        "count": 1,
        "first": 0.5,
        "last": 0.5,
        "min": 0.5,
        "min_step": 99,
        "max": 0.5,
        "max_step": 99,
    }
    assert run["attempts"][0]["series"] == run["series"]
    folder = root / "runs" / "0001"
    stored = folder / series.FILE
    assert stored.stat().st_nlink == 2  # the run folder shows the store's object
    assert stored.stat().st_mode & 0o222 == 0  # which is read-only
    assert not (folder / "heartbeat.json").exists()
    curves = json.loads((folder / series.SAMPLED).read_text())
    assert curves["acc"]["step"] == list(range(30))
    # The next attempt starts with a series of its own; the first one's is kept with it.
    code, _, err = run_cli("run", "-s", "N=3")
    assert code == 0, err
    run = records(root)[0]
    assert run["series"]["loss"]["count"] == 4
    assert run["attempts"][0]["series"]["loss"]["count"] == 31
    shelved = folder / "attempts" / "1" / series.FILE
    assert len(shelved.read_text().splitlines()) == 32


def test_a_run_that_logs_nothing_has_an_empty_series(
    experiment: Callable[..., Path], run_cli: RunCli
) -> None:
    root = experiment(LOGGING.replace(f"cmd: {sys.executable} train.py", 'cmd: "true"'))
    assert run_cli("run")[0] == 0
    run = records(root)[0]
    assert run["series"]["val"]["count"] == 1 and "loss" not in run["series"]
    assert run["attempts"][0].get("series_error") is None


def test_a_series_with_bad_lines_says_so_in_the_attempt(
    experiment: Callable[..., Path], run_cli: RunCli
) -> None:
    bad = LOGGING.replace(
        f"cmd: {sys.executable} train.py",
        """cmd: 'printf "oops\\n{\\"loss\\": 1}\\n" >> "$EXPMAN_METRICS"'""",
    )
    root = experiment(bad)
    code, _, err = run_cli("run")
    assert code == 0, err
    run = records(root)[0]
    assert run["series"]["loss"]["count"] == 1
    assert run["attempts"][0]["series_error"] == (
        "series.jsonl: line 1 is skipped: not a JSON object"
    )
    assert "line 1 is skipped: not a JSON object" in err


def test_queries_filter_on_summaries(experiment: Callable[..., Path], run_cli: RunCli) -> None:
    root = experiment(LOGGING, **{"train.py": TRAIN})
    for n in ("10", "40", "20"):
        assert run_cli("run", "-s", f"N={n}")[0] == 0
        assert run_cli("end", "-m", "x")[0] == 0
    code, out, err = run_cli("query", "min_by([?series.loss], &series.loss.min).vars.N")
    assert code == 0, err
    assert json.loads(out) == 40
    assert root.is_dir()


def test_log_outside_expman_does_nothing_and_importing_expman_imports_nothing(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "EXPMAN_METRICS"}
    probe = (
        "import sys; before = set(sys.modules); import expman; expman.log(step=1, loss=2);"
        "print(sorted(set(sys.modules) - before))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['expman']"
    assert list(tmp_path.iterdir()) == []


def test_log_writes_numpy_like_scalars_and_survives_an_unwritable_file(tmp_path: Path) -> None:
    target = tmp_path / "s.jsonl"
    probe = (
        "import expman\n"
        "class Scalar:\n"
        "    def item(self): return 0.25\n"
        "expman.log(step=1, loss=Scalar(), name=object.__new__(object))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "EXPMAN_METRICS": str(target)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    line = json.loads(target.read_text())
    assert line["loss"] == 0.25 and line["step"] == 1 and line["name"].startswith("<object")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import expman\nexpman.log(loss=1)\nexpman.log(loss=2)\nprint('on')",
        ],
        env={**os.environ, "EXPMAN_METRICS": str(tmp_path / "missing" / "s.jsonl")},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and done.stdout == "on\n"
    assert done.stderr.count("expman.log: cannot write") == 1


def test_ratio_divides_numbers_and_gives_null_otherwise() -> None:
    from expman.store.query import Query

    records = [
        {"id": "1", "series": {"loss": {"last": 0.4, "min": 0.2}}},
        {"id": "2", "series": {"loss": {"last": 0.2, "min": 0.2}}},
        {"id": "3", "series": {"loss": {"last": "NaN", "min": None}}},
        {"id": "4", "series": {}},
        {"id": "5", "series": {"loss": {"last": 1, "min": 0}}},
    ]
    query = Query("[?ratio(series.loss.last, series.loss.min) > `1.1`].id")
    assert query.search(records) == ["1"]
    assert Query("map(&ratio(series.loss.last, series.loss.min), @)").search(records) == [
        2.0,
        1.0,
        None,
        None,
        None,
    ]


SHARED_PRERUN = """\
version: 1
name: shared
vars: {STEP: 1}
stages:
  pre-run:
    - name: data
      cmd: 'echo "{\\"rows\\": 3}" >> "$EXPMAN_METRICS" && echo data > data.txt'
      deps: [version.txt]
      targets: [data.txt]
  run: {cmd: 'echo "{\\"loss\\": $STEP}" >> "$EXPMAN_METRICS"'}
  fetch: {cmd: "true"}
"""


def test_a_pre_run_step_shared_by_a_sweep_may_log_too(
    experiment: Callable[..., Path],
) -> None:
    """A sweep runs shared pre-run steps outside any run: `$EXPMAN_METRICS` is writable
    there as well (what it logs belongs to no run)."""
    root = experiment(SHARED_PRERUN, **{"version.txt": "1\n"})
    (root / ".gitignore").write_text("/.expman/\n/outputs/\n/runs/\n/data.txt\n")
    done = subprocess.run(
        [str(Path(sys.executable).parent / "expman"), "sweep", "-s", "STEP=1,2"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    runs = records(root)
    shared = {s["status"] for r in runs for s in r["stages"] if s["name"] == "pre-run:data"}
    assert shared == {"skipped"}, "run once for the sweep, not failed and run in each point"
    assert sorted(r["series"]["loss"]["last"] for r in runs) == [1, 2]

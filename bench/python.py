"""The archive from Python (`python -m bench.python`): runs and curves into pandas, against
what a user writes without expman's read API, measured in the same run in alternating
rounds (medians).

Rows (issue 20's speed table):

1. 100,000 runs x 20 columns into a pandas DataFrame, cache warm, against `expman query`
   of the same columns as a process (target: at most 1.3 x),
2. and against `pandas.json_normalize` over `json.load` of every `run.json` (at least
   20 x faster, so at most 0.05 x);
3. the first call after 10,000 new runs, against the same plain loop (at least 3 x
   faster: at most 0.33 x);
4. 100 runs x 3 metrics x 10,000 steps, full series in long format, against
   `pandas.read_json(lines=True)` per series file, concatenated (at most 0.5 x);
5. 1,000 runs x 3 metrics, down-sampled, against the same plain loop over the sampled
   files (at most 0.3 x).

And the peak memory of building the 100,000-run frame (`tracemalloc`, which sees NumPy's
buffers too) against the frame's own size (`memory_usage(deep=True)`): target below 2 x.
Records are real ones (a run made with expman) copied into N run folders with varied
vars and metrics. `EXPMAN_BENCH_RUNS` sets the archive's size (default 100,000; the
curves rows take 1/100 and 1/1,000 of it); `python -m bench --quick` runs it at 10,000.
"""

from __future__ import annotations

import gc
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import ENV, EXPMAN, call, experiment, median, report, timed

RUNS = int(os.environ.get("EXPMAN_BENCH_RUNS", "100000"))
NEW_RUNS = RUNS // 10
ROUNDS = 5
VARS = [f"v{i}" for i in range(5)]
METRICS = [f"m{i}" for i in range(10)]
COLUMNS = [
    "id",
    "status",
    "experiment",
    "started",
    "duration",
    *(f"vars.{v}" for v in VARS),
    *(f"metrics.{m}" for m in METRICS),
]
CURVES = ("loss", "acc", "lr")
EXPFILE = """\
version: 1
name: python
vars: {v0: 1}
stages:
  run: {cmd: "true"}
  fetch: {cmd: "echo '{\\"m0\\": 0.5}' > $EXPMAN_OUTPUTS/metrics.json"}
metrics: outputs/metrics.json
"""


def _real_record(root: Path) -> dict[str, Any]:
    source = experiment(root / "source", EXPFILE)
    call(EXPMAN, "run", cwd=source)
    call(EXPMAN, "end", "-m", "real", cwd=source)
    return json.loads(next((source / "runs").glob("*/run.json")).read_text())  # type: ignore[no-any-return]


def _write_runs(archive: Path, real: dict[str, Any], first: int, count: int) -> None:
    chance = random.Random(first)
    for number in range(first, first + count):
        record = dict(real)
        record["id"] = f"{number:04d}"
        record["uid"] = f"{number:032x}"
        record["vars"] = {v: chance.choice([0.001, 0.01, 0.1, 1]) for v in VARS}
        record["metrics"] = {m: round(chance.random(), 4) for m in METRICS}
        folder = archive / record["id"]
        folder.mkdir()
        (folder / "run.json").write_text(json.dumps(record, indent=2) + "\n")
        past = 1_700_000_000 + number  # settled: the record cache keeps it
        os.utime(folder / "run.json", (past, past))


def _plain_loop(archive: Path) -> Any:
    """What a user writes today: every run.json loaded, flattened by pandas."""
    import pandas

    folders = sorted((p for p in archive.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    records = []
    for folder in folders:
        with (folder / "run.json").open() as f:
            records.append(json.load(f))
    return pandas.json_normalize(records)[COLUMNS]


def _api(archive: Path) -> Any:
    import expman

    return expman.open(archive).runs(columns=COLUMNS).to_pandas()


def _cache_alone(archive: Path) -> None:
    """Only the record cache's answer (the fields the columns name): the floor of row 2."""
    from expman.store import index
    from expman.store.archive import Archive

    index.load(Archive(archive), {c.split(".")[0] for c in COLUMNS})


def _query_process(archive: Path) -> None:
    fields = ", ".join(f'"{c}": {c}' for c in COLUMNS)
    command = [EXPMAN, "query", "--archive", str(archive), f"[].{{{fields}}}"]
    subprocess.run(command, capture_output=True, check=True, env=ENV)


def _forget_newest(archive: Path, count: int) -> None:
    """The cache of the newest `count` runs' segments removed: the next call reads them
    from their records, as the first call after they arrived does."""
    cache = next((archive / ".cache").iterdir())
    segments = sorted(p for p in cache.iterdir() if p.name.isdigit() and p.is_dir())
    for segment in segments[-max(1, count // 1000) :]:
        shutil.rmtree(segment)


def _alternate(rounds: int, actions: dict[str, Callable[[], object]]) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(rounds):
        for name, action in actions.items():
            gc.collect()
            times[name].extend(timed(action, 1))
    return {name: median(values) for name, values in times.items()}


def _memory(archive: Path) -> tuple[float, float]:
    """(peak bytes while the frame is built, the frame's own bytes)."""
    gc.collect()
    tracemalloc.start()
    frame = _api(archive)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, float(frame.memory_usage(deep=True).sum())


def _series_archive(root: Path, real: dict[str, Any], runs: int, full: int, steps: int) -> Path:
    """`runs` runs with sampled curves of 3 metrics; the first `full` with a full series
    of `steps` points per metric."""
    from expman.observe.curve import Sampler

    archive = root / "curves"
    archive.mkdir()
    _write_runs(archive, real, 1, runs)
    chance = random.Random(7)
    for number in range(1, runs + 1):
        folder = archive / f"{number:04d}"
        values = {name: [chance.random() for _ in range(steps)] for name in CURVES}
        if number <= full:
            with (folder / "series.jsonl").open("w") as f:
                for step in range(steps):
                    point = {"step": step, **{n: values[n][step] for n in CURVES}}
                    f.write(json.dumps(point) + "\n")
        sampled = {}
        for name in CURVES:
            sampler = Sampler()
            sampler.add(list(range(steps)), values[name])
            sampled[name] = sampler.points()
        (folder / "series.sampled.json").write_text(json.dumps(sampled, sort_keys=True))
    return archive


def _read_json_lines(archive: Path, count: int) -> Any:
    import pandas

    frames = []
    for number in range(1, count + 1):
        frame = pandas.read_json(archive / f"{number:04d}" / "series.jsonl", lines=True)
        frames.append(frame.assign(id=f"{number:04d}"))
    return pandas.concat(frames, ignore_index=True)


def _sampled_loop(archive: Path, count: int) -> Any:
    import pandas

    frames = []
    for number in range(1, count + 1):
        run_id = f"{number:04d}"
        with (archive / run_id / "series.sampled.json").open() as f:
            curves = json.load(f)
        for name, points in curves.items():
            frame = pandas.DataFrame({"step": points["step"], "value": points["value"]})
            frames.append(frame.assign(id=run_id, metric=name))
    return pandas.concat(frames, ignore_index=True)


def _json_floor(archive: Path, count: int, name: str) -> None:
    """Only `json.loads` of each file (as one array, the series reader's fast path): what
    any reader of these files with the standard library pays."""
    for number in range(1, count + 1):
        data = (archive / f"{number:04d}" / name).read_bytes()
        if name.endswith(".jsonl"):
            data = b"[" + data.rstrip(b"\n").replace(b"\n", b",") + b"]"
        json.loads(data)


def _curves(archive: Path, count: int, sampled: bool) -> Any:
    import expman

    ids = [f"{n:04d}" for n in range(1, count + 1)]
    return expman.open(archive).series(ids, sampled=sampled).to_pandas()


def main(
    sections: tuple[str, ...] = ("runs", "curves"), runs: int = RUNS, rounds: int = ROUNDS
) -> bool:
    """Measure and print; True when every target is met. `runs`: the archive's size for
    rows 1-3 (the curves rows use 1/100 and 1/1,000 of it, at least 100 and 10)."""
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
    met = True
    with tempfile.TemporaryDirectory(prefix="expman-bench-python-") as tmp:
        root = Path(tmp)
        real = _real_record(root)
        if "runs" in sections:
            met &= _runs_rows(root, real, runs, rounds)
        if "curves" in sections:
            sampled = max(100, runs // 100)
            met &= _curves_rows(root, real, sampled, max(10, sampled // 10), rounds)
    return met


def _within(name: str, figure: float, baseline_name: str, baseline: float, most: float) -> bool:
    """`report` of a figure whose target is a ratio to its baseline (at most `most`)."""
    report(name, figure, "s", baseline_name, baseline)
    met = figure <= most * baseline
    print(f"  target: <= {most:g} x {baseline_name}: {'met' if met else 'MISSED'}")
    return met


def _runs_rows(root: Path, real: dict[str, Any], runs: int, rounds: int) -> bool:
    """Rows 1-3 and the memory."""
    archive = root / "runs"
    archive.mkdir()
    _write_runs(archive, real, 1, runs)
    _api(archive)  # the cache, made once
    assert list(_api(archive)["id"]) == list(_plain_loop(archive)["id"])

    medians = _alternate(
        rounds,
        {
            "api": lambda: _api(archive),
            "query": lambda: _query_process(archive),
            "loop": lambda: _plain_loop(archive),
            "floor": lambda: _cache_alone(archive),
        },
    )
    print(f"\n{runs:,} runs x {len(COLUMNS)} columns into pandas, cache warm")
    met = _within("read API", medians["api"], "expman query as a process", medians["query"], 1.3)
    met &= _within("read API", medians["api"], "json_normalize loop", medians["loop"], 0.05)
    report("record cache alone", medians["floor"], "s", "json_normalize loop", medians["loop"])

    peak, size = _memory(archive)
    print(
        f"peak memory building the frame: {peak / 1e6:.0f} MB; the frame: "
        f"{size / 1e6:.0f} MB (ratio {peak / size:.2f}, target < 2)"
    )
    met &= peak < 2 * size

    new_runs = runs // 10
    _write_runs(archive, real, runs + 1, new_runs)
    _api(archive)

    def first_after_new() -> None:
        _forget_newest(archive, new_runs)
        _api(archive)

    medians = _alternate(rounds, {"api": first_after_new, "loop": lambda: _plain_loop(archive)})
    print(f"\nfirst call after {new_runs:,} new runs ({runs + new_runs:,} in all)")
    return met & _within("read API", medians["api"], "json_normalize loop", medians["loop"], 0.33)


def _curves_rows(
    root: Path, real: dict[str, Any], sampled_runs: int, full_runs: int, rounds: int
) -> bool:
    """Rows 4 and 5."""
    curves = _series_archive(root, real, sampled_runs, full_runs, 10_000)
    full = _curves(curves, full_runs, sampled=False)
    assert len(full) == len(_read_json_lines(curves, full_runs)) * len(CURVES)
    medians = _alternate(
        rounds,
        {
            "api": lambda: _curves(curves, full_runs, sampled=False),
            "loop": lambda: _read_json_lines(curves, full_runs),
            "floor": lambda: _json_floor(curves, full_runs, "series.jsonl"),
        },
    )
    print(f"\n{full_runs:,} runs x 3 metrics x 10,000 steps, full series, long format")
    report("json.loads alone", medians["floor"], "s", "the same", medians["loop"])
    baseline = "read_json(lines=True) per file"
    met = _within("read API", medians["api"], baseline, medians["loop"], 0.5)

    medians = _alternate(
        rounds,
        {
            "api": lambda: _curves(curves, sampled_runs, sampled=True),
            "loop": lambda: _sampled_loop(curves, sampled_runs),
            "floor": lambda: _json_floor(curves, sampled_runs, "series.sampled.json"),
        },
    )
    print(f"\n{sampled_runs:,} runs x 3 metrics, down-sampled series, long format")
    report("json.loads alone", medians["floor"], "s", "the same", medians["loop"])
    baseline = "json.load + DataFrame per file"
    return met & _within("read API", medians["api"], baseline, medians["loop"], 0.3)


if __name__ == "__main__":
    main(tuple(sys.argv[1:]) or ("runs", "curves"))  # `python -m bench.python curves`: rows 4-5

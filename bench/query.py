"""Query: the same selection over 10,000 and 100,000 archived runs, against `jq -s`.

The archive is made of real records: a few real runs, copied into N run folders with
varied ids, vars and metrics, written as expman writes them. Measured end to end from
the command line: `expman query` with its record cache warm (and the first, cold query
that builds it), and `jq -s` over the same run.json files, alternating. Targets (ratios
to jq in the same run): warm, 0.1 x at 10,000 runs and 0.04 x at 100,000; cold, and the
first query after 10,000 new runs (a tenth of the size), 1 x. And `list --limit 10
--reverse` and `show last` at 110,000 runs against the same commands at 1,000 runs: at
most 1.5 x.

With DuckDB installed (`pip install -e ".[bench]"`), what a data-savvy user would pick
instead, at 100,000 runs: the same selection over a DuckDB table of the records' `id`,
`vars` and `metrics` (warm: at most 3 x), and over DuckDB's `read_json` of the run.json
files, which parses on every core (cold: at most 1 x). Each is a Python process that
imports duckdb, as `expman query` is one that imports expman. `--warm`: only the warm
query at 100,000 runs against the DuckDB table (nine rounds, a few minutes).
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

from bench.common import ENV, EXPMAN, call, experiment, median, timed

SELECTION = "[?metrics.acc > `0.9` && vars.lr < `0.01`].id"
JQ = "[.[] | select(.metrics.acc > 0.9 and .vars.lr < 0.01) | .id]"
EXPFILE = """\
version: 1
name: query
vars: {lr: 0.01}
stages:
  run: {cmd: "true"}
  fetch: {cmd: "echo '{\\"acc\\": 0.5}' > $EXPMAN_OUTPUTS/metrics.json"}
metrics: outputs/metrics.json
"""


def _archive(root: Path, runs: int) -> Path:
    """An archive of `runs` records, cloned from real ones."""
    source = experiment(root / "source", EXPFILE)
    for _ in range(3):
        call(EXPMAN, "run", cwd=source)
        call(EXPMAN, "end", "-m", "real", cwd=source)
    real = [json.loads(p.read_text()) for p in sorted((source / "runs").glob("*/run.json"))]
    archive = root / "runs"
    archive.mkdir()
    chance = random.Random(0)
    for number in range(1, runs + 1):
        record = dict(real[number % len(real)])
        record["id"] = f"{number:04d}"
        record["uid"] = f"{number:032x}"
        record["vars"] = {"lr": chance.choice([0.001, 0.005, 0.01, 0.05])}
        record["metrics"] = {"acc": round(chance.random(), 4), "loss": round(chance.random(), 4)}
        folder = archive / record["id"]
        folder.mkdir()
        (folder / "run.json").write_text(json.dumps(record, indent=2) + "\n")
    return archive


def _jq(archive: Path) -> bytes:
    files = subprocess.Popen(
        ["find", str(archive), "-mindepth", "2", "-maxdepth", "2", "-name", "run.json", "-print0"],
        stdout=subprocess.PIPE,
    )
    # Oldest first, as expman answers: run folders sorted by number (find lists them in
    # directory order, which is not sorted).
    field = len(archive.parts) + 1  # the NNNN of /a/b/archive/NNNN/run.json, split on "/"
    ordered = subprocess.Popen(
        ["sort", "-z", "-t/", f"-k{field},{field}n"], stdin=files.stdout, stdout=subprocess.PIPE
    )
    cat = subprocess.Popen(["xargs", "-0", "cat"], stdin=ordered.stdout, stdout=subprocess.PIPE)
    result = subprocess.run(
        ["jq", "-c", "-s", JQ], stdin=cat.stdout, capture_output=True, check=True
    )
    return result.stdout


def _expman(archive: Path) -> bytes:
    command = [EXPMAN, "query", "--archive", str(archive), SELECTION]
    return subprocess.run(command, capture_output=True, check=True, env=ENV).stdout


# The selection in SQL, over the fields it names (typed as the records hold them).
_DUCK_COLUMNS = "{id: 'VARCHAR', vars: 'STRUCT(lr DOUBLE)', metrics: 'STRUCT(acc DOUBLE)'}"
_DUCK_SELECT = (
    "SELECT id FROM {} WHERE metrics.acc > 0.9 AND vars.lr < 0.01 ORDER BY CAST(id AS INTEGER)"
)
_DUCK = """\
import json, sys, time, duckdb
started = time.perf_counter()
what, archive, database, columns, select = sys.argv[1:6]
files = f"read_json('{archive}/*/run.json', columns={columns})"
if what == "make":
    duckdb.connect(database).execute(f"CREATE TABLE runs AS SELECT * FROM {files}")
else:
    source = "runs" if what == "table" else files
    connection = duckdb.connect(database, read_only=True) if what == "table" else duckdb.connect()
    rows = connection.execute(select.format(source)).fetchall()
    print(json.dumps([row[0] for row in rows]))
    print(time.perf_counter() - started)  # the query alone, without starting Python
"""


def _duckdb(what: str, archive: Path, database: Path) -> bytes:
    """`make` the table, or select from the `table` or the `files` (read_json's glob):
    the ids selected, then the seconds of the query alone, a line each."""
    command = [sys.executable, "-c", _DUCK, what, str(archive), str(database)]
    command += [_DUCK_COLUMNS, _DUCK_SELECT]
    return subprocess.run(command, capture_output=True, check=True, env=ENV).stdout


def _add_runs(archive: Path, count: int) -> None:
    """`count` more runs, cloned from the archive's last: as a sweep leaves them."""
    ids = sorted(int(p.name) for p in archive.iterdir() if p.name.isdigit())
    record = json.loads((archive / f"{ids[-1]:04d}" / "run.json").read_text())
    for number in range(ids[-1] + 1, ids[-1] + 1 + count):
        record["id"], record["uid"] = f"{number:04d}", f"{number:032x}"
        folder = archive / record["id"]
        folder.mkdir()
        (folder / "run.json").write_text(json.dumps(record, indent=2) + "\n")


def _reader(archive: Path, *args: str) -> float:
    """Seconds of one reading command (`list`, `show`) over `archive`."""
    return timed(partial(call, EXPMAN, *args, "--archive", str(archive), cwd=archive), 1)[0]


# Targets, each a ratio to its baseline in the same run (the issue "speed").
WARM = {10_000: 0.1, 100_000: 0.04}  # x jq -s
COLD = 1.0  # x jq -s: a first query, and the first after 10,000 new runs
FLAT = 1.5  # list --limit 10 --reverse and show last, at 100,000 runs x at 1,000 runs
DUCK_WARM = 3.0  # x a DuckDB table of the same records (issue "speed at study scale")
DUCK_COLD = 1.0  # x DuckDB's read_json of the run.json files
ISSUE_SIZE = 100_000  # the runs of the issue's rows against DuckDB


def main(sizes: tuple[int, ...] = (10_000, 100_000), repeat: int = 3) -> bool:
    """Measure and print; True when every target is met."""
    if shutil.which("jq") is None:
        raise SystemExit("the query benchmark compares with jq: install it (apt-get install jq)")
    met = True
    if max(sizes) < ISSUE_SIZE:
        print(
            f"  (quick: at most {max(sizes):,} runs, not the issue's {ISSUE_SIZE:,}; the DuckDB "
            f"rows are taken at {max(sizes):,}, where starting each process weighs more)"
        )
    with tempfile.TemporaryDirectory() as tmp:
        small = _archive(Path(tmp) / "small", 1_000)
        time.sleep(RACY)
        readers = {
            "list --limit 10 --reverse": ("list", "--limit", "10", "--reverse"),
            "show last": ("show", "last"),
        }
        at_1k = {
            name: [_reader(small, *args) for _ in range(repeat)] for name, args in readers.items()
        }
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            archive = _archive(Path(tmp), size)
            time.sleep(RACY)  # records written just now are not cached (signature.RACY_SECONDS)
            cold = timed(lambda: _expman(archive), 1)[0]  # noqa: B023 - called at once
            ours = json.loads(_expman(archive))
            assert ours == json.loads(_jq(archive)), "expman and jq disagree"
            warm, jq = [], []
            for _ in range(repeat):  # alternating, so that load hits both alike
                warm += timed(lambda: _expman(archive), 1)  # noqa: B023
                jq += timed(lambda: _jq(archive), 1)  # noqa: B023
            print(f"  {size:,} runs, {len(ours)} selected")
            name = f"expman query, {size:,} runs"
            met &= _ratio(f"{name}, warm", median(warm), median(jq), WARM[size])
            met &= _ratio(f"{name}, cold (no cache)", cold, median(jq), COLD)
            if size == max(sizes):
                met &= _against_duckdb(archive, Path(tmp) / "runs.duckdb", ours, repeat)
            if size == max(sizes):
                added = size // 10  # 10,000 at the issue's size
                _add_runs(archive, added)
                after = timed(lambda: _expman(archive), 1)[0]  # noqa: B023
                jq_after = timed(lambda: _jq(archive), 1)[0]  # noqa: B023
                met &= _ratio(f"  the first query after {added:,} new runs", after, jq_after, COLD)
                for name, args in readers.items():
                    here = [_reader(archive, *args) for _ in range(repeat)]
                    met &= _ratio(
                        f"{name}, {size + added:,} runs (baseline: 1,000 runs)",
                        median(here),
                        median(at_1k[name]),
                        FLAT,
                    )
    return met


RACY = 2.1


def _against_duckdb(archive: Path, database: Path, ours: list[str], repeat: int) -> bool:
    """Warm against a DuckDB table, cold against DuckDB's read_json of the files,
    alternating; True when both targets are met (or DuckDB is not installed)."""
    if importlib.util.find_spec("duckdb") is None:
        print("  (DuckDB not installed: pip install -e '.[bench]' for the DuckDB baselines)")
        return True
    _duckdb("make", archive, database)
    assert json.loads(_duckdb("table", archive, database).splitlines()[0]) == ours, "disagree"
    cache = archive / ".cache"
    warm, table, cold, files, inside = [], [], [], [], []
    for _ in range(repeat):
        warm += timed(lambda: _expman(archive), 1)
        table += timed(lambda: inside.append(_duckdb("table", archive, database)), 1)
        shutil.rmtree(cache)
        cold += timed(lambda: _expman(archive), 1)
        files += timed(lambda: _duckdb("files", archive, database), 1)
    alone = median([float(out.splitlines()[1]) for out in inside])
    print(f"  against DuckDB, {repeat} rounds, alternating; load {os.getloadavg()}")
    print(
        f"  (the DuckDB table's query alone, without starting Python and importing duckdb: "
        f"{alone:.3f} s; expman warm is {median(warm) / alone:.1f} x that)"
    )
    met = _ratio("  warm, against a DuckDB table", median(warm), median(table), DUCK_WARM)
    return met & _ratio(
        "  cold, against DuckDB's read_json", median(cold), median(files), DUCK_COLD
    )


def _ratio(name: str, figure: float, baseline: float, target: float) -> bool:
    ratio = figure / baseline
    met = ratio <= target
    print(
        f"{name}: {figure:.3f} s; baseline {baseline:.3f} s (ratio {ratio:.3f})  "
        f"target <= {target:g} x: {'met' if met else 'MISSED'}"
    )
    return met


def warm(size: int = 100_000, repeat: int = 9) -> bool:
    """Only the warm query at `size` runs against the DuckDB table, `repeat` rounds
    alternating, with the load before and after (`python -m bench.query --warm`: the
    issue's row in a few minutes, without the cold rounds); True when the target is met
    (or DuckDB is not installed)."""
    if importlib.util.find_spec("duckdb") is None:
        print("  (DuckDB not installed: pip install -e '.[bench]' for the DuckDB baselines)")
        return True
    with tempfile.TemporaryDirectory() as tmp:
        archive = _archive(Path(tmp), size)
        time.sleep(RACY)
        database = Path(tmp) / "runs.duckdb"
        _duckdb("make", archive, database)
        ours = _expman(archive)  # builds the cache
        assert json.loads(ours) == json.loads(_duckdb("table", archive, database).splitlines()[0])
        print(f"  {size:,} runs, warm, {repeat} rounds, alternating; load {os.getloadavg()}")
        warm, table = [], []
        for _ in range(repeat):
            warm += timed(lambda: _expman(archive), 1)
            table += timed(lambda: _duckdb("table", archive, database), 1)
        print(f"  load {os.getloadavg()}")
    return _ratio("  warm, against a DuckDB table", median(warm), median(table), DUCK_WARM)


if __name__ == "__main__":
    raise SystemExit(0 if (warm() if sys.argv[1:] == ["--warm"] else main()) else 1)

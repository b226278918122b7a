"""`python -m bench` (or `doit bench`): every benchmark, each against its own baseline.

`python -m bench --quick` is meant to fit in 10 minutes on two busy cores. Each section
runs with fewer rounds and some at smaller sizes, each still against its baseline in the
same run: the query at 10,000 runs (DuckDB's rows too) instead of 100,000; `end` of new
1 KB files at 10,000 instead of 100,000 (no memory target) and of 200 big new files at
200 MiB instead of 500; the sweep's growth at 200 points instead of 1,000; adaptive
search at 100 trials and 2 seeds; the sampling's end-to-end run holding its processes
6 s in 2 rounds; the read API at 5,000 runs; the first query after 1,000 new runs
instead of 10,000; and the keeping benchmark (`bench.keep`, 10,000-run `gc` and pull)
left out. A section that measures a row at a smaller size says so in its output. Each
section prints its own seconds and the load as it starts and ends, and all of them at
the end (docs/performance.md has the last measured). Each section starts once the disk
has what the sections before wrote (`sync`), so that their writeback does not slow it.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

from bench import (
    archive,
    fresh,
    keep,
    observe,
    overhead,
    python,
    query,
    resources,
    search,
    skip_check,
    slurm,
    steps,
    sweep,
)
from bench.common import load

Section = tuple[str, Callable[..., bool], dict[str, Any]]


def sections(quick: bool) -> list[Section]:
    """Each benchmark with the arguments of a full run or a quick one."""
    if not quick:
        return [
            ("overhead", overhead.main, {}),
            ("skip check", skip_check.main, {}),
            ("executed pre-run steps", steps.main, {}),
            ("archive", archive.main, {}),
            ("archiving new content", fresh.main, {}),
            ("query", query.main, {}),
            ("keeping the archive", keep.main, {}),
            ("sweeps", sweep.main, {}),
            ("adaptive search", search.main, {}),
            ("observing runs", observe.main, {}),
            ("what a run used, its environment", resources.main, {}),
            ("the archive from Python", python.main, {}),
            ("slurm", slurm.main, {}),
        ]
    return [
        ("overhead", overhead.main, {"repeat": 7}),
        ("skip check", skip_check.main, {"repeat": 5}),
        ("executed pre-run steps", steps.main, {"repeat": 3}),
        ("archive", archive.main, {"runs": 3}),
        ("archiving new content", fresh.main, {"runs": 2, "small_files": 10_000, "new_mib": 200}),
        ("query", query.main, {"sizes": (10_000,), "repeat": 2}),
        ("sweeps", sweep.main, {"quick": True}),
        ("adaptive search", search.main, {"quick": True}),
        ("observing runs", observe.main, {"repeat": 2, "series_rounds": 2}),
        ("what a run used, its environment", resources.main, {"rounds": 2, "held": 6}),
        ("the archive from Python", python.main, {"runs": 5_000, "rounds": 2}),
        ("slurm", slurm.main, {"repeat": 2}),
    ]


if __name__ == "__main__":
    quick = "--quick" in sys.argv[1:]
    print(
        f"expman benchmarks{' (quick)' if quick else ''} on {platform.node()}: "
        f"{platform.platform()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs; {load()}"
    )
    results = {}
    durations = {}
    began = time.perf_counter()
    for name, main, arguments in sections(quick):
        # What the sections before wrote is on the disk first: else its writeback (100,000
        # files of `end`, a query's 10,000 runs) slows this section's syncs and renames.
        settled = time.perf_counter()
        os.sync()
        print(f"\n== {name} ({load()}; the disk synced in {time.perf_counter() - settled:.1f} s)")
        started = time.perf_counter()
        results[name] = main(**arguments)
        durations[name] = time.perf_counter() - started
        print(f"  ({durations[name]:.0f} s; {load()})")
    missed = [name for name, met in results.items() if not met]
    print("\nseconds each: " + ", ".join(f"{n} {s:.0f}" for n, s in durations.items()))
    print(f"{time.perf_counter() - began:.0f} s in all; {load()}")
    print(f"targets missed: {', '.join(missed)}" if missed else "all targets met")

"""`python -m bench` (or `doit bench`): every benchmark, each against its own baseline."""

from __future__ import annotations

import platform
import time

from bench import (
    archive,
    fresh,
    keep,
    observe,
    overhead,
    query,
    resources,
    skip_check,
    slurm,
    steps,
    sweep,
)

if __name__ == "__main__":
    print(
        f"expman benchmarks on {platform.node()}: {platform.platform()}, "
        f"Python {platform.python_version()}"
    )
    results = {}
    for name, module in (
        ("overhead", overhead),
        ("skip check", skip_check),
        ("executed pre-run steps", steps),
        ("archive", archive),
        ("archiving new content", fresh),
        ("query", query),
        ("keeping the archive", keep),
        ("sweeps", sweep),
        ("observing runs", observe),
        ("what a run used, its environment", resources),
        ("slurm", slurm),
    ):
        print(f"\n== {name}")
        started = time.perf_counter()
        results[name] = module.main()
        print(f"  ({time.perf_counter() - started:.0f} s)")
    missed = [name for name, met in results.items() if not met]
    print(f"\ntargets missed: {', '.join(missed)}" if missed else "\nall targets met")

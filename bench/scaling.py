"""Scaling: how the main costs grow with the size of what they work on.

`python -m bench.scaling` (not part of `python -m bench`, to keep that under ten
minutes): for each cost, the figure at three sizes, the cost per unit, and whether the
growth from the middle size to the largest is linear (at most 1.3 x the per-unit cost).

- runs in the archive (1,000 / 10,000 / 100,000): a warm query, a cold one (no cache);
- new output content (50 MB / 500 MB / 2 GB in 200 files): `expman end`;
- executed pre-run steps (1 / 10 / 100): `expman run --force` above the run without.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from functools import partial
from pathlib import Path

from bench import fresh, steps
from bench.common import EXPMAN, call, experiment, median, timed
from bench.query import _archive, _expman

LINEAR = 1.3


def _grows(name: str, unit: str, sizes: list[int], figures: list[float]) -> bool:
    per = [f / s for f, s in zip(figures, sizes, strict=True)]
    linear = per[-1] <= LINEAR * per[-2]
    shown = ", ".join(
        f"{s:,} {unit}: {f:.3f} s ({p * 1e6:.1f} us per {unit.rstrip('s')})"
        for s, f, p in zip(sizes, figures, per, strict=True)
    )
    print(f"{name}: {shown}; {'linear' if linear else 'WORSE THAN LINEAR'}")
    return linear


def runs(repeat: int = 3) -> bool:
    """A warm and a cold query at 1,000, 10,000 and 100,000 runs."""
    sizes, warm, cold = [1_000, 10_000, 100_000], [], []
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            archive = _archive(Path(tmp), size)
            time.sleep(2.1)  # not cached while fresh (signature.RACY_SECONDS)
            colds = []
            for _ in range(repeat):
                subprocess.run(["rm", "-rf", str(archive / ".cache")], check=True)
                colds += timed(partial(_expman, archive), 1)
            _expman(archive)
            warm.append(median(timed(partial(_expman, archive), repeat)))
            cold.append(median(colds))
    # Start-up is not per run: the warm figure's growth is judged above it.
    start = median(timed(partial(call, EXPMAN, "--version", cwd=Path.cwd()), repeat))
    print(f"  start-up (expman --version): {start:.3f} s")
    ok = _grows("query, warm, above start-up", "runs", sizes, [w - start for w in warm])
    return _grows("query, cold", "runs", sizes, cold) and ok


def outputs(repeat: int = 2) -> bool:
    """`expman end` archiving 50 MB, 500 MB and 2 GB of new content."""
    sizes = [50, 500, 2000]
    figures, copies = [], []
    for megabytes in sizes:
        with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
            end, copy, _ = fresh._case(Path(tmp), 200, megabytes * 10**6 // 200, repeat, "cp -r")
            figures.append(end)
            copies.append(copy)
    _grows("  cp -r of the same outputs (the disk's own growth)", "MB", sizes, copies)
    return _grows("end, new content", "MB", sizes, figures)


def executed_steps(repeat: int = 5) -> bool:
    """`expman run --force` with 1, 10 and 100 pre-run steps, above the run without."""
    counts = [0, 1, 10, 100]
    with tempfile.TemporaryDirectory() as tmp:
        roots = {n: experiment(Path(tmp) / f"s{n}", steps.expfile(n)) for n in counts}
        for root in roots.values():
            call(EXPMAN, "run", cwd=root)
            call(EXPMAN, "end", "-m", "warm-up", cwd=root)
        times: dict[int, list[float]] = {n: [] for n in counts}
        for _ in range(repeat):
            for n, root in roots.items():
                times[n] += timed(partial(call, EXPMAN, "run", "--force", cwd=root), 1)
                call(EXPMAN, "end", "-m", "x", cwd=root)
    base = median(times[0])
    return _grows(
        "run, executed pre-run steps, above the run without",
        "steps",
        counts[1:],
        [median(times[n]) - base for n in counts[1:]],
    )


if __name__ == "__main__":
    results = [executed_steps(), outputs(), runs()]
    raise SystemExit(0 if all(results) else 1)

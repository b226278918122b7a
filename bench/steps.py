"""Executed pre-run steps: what expman adds to each one (its record, logs, doit's state).

`expman run --force` of an experiment with N pre-run steps, each `true`, for N = 0, 1,
10 and 100. Baseline: N x `bash -c true` (how expman starts a `cmd`). The cost per step
is the time above the same run with no pre-run step (start-up, the snapshot and the four
stages are the `overhead` benchmark's row), minus the baseline's per step. Target: at
most 5 ms per step at 100 steps, and linear growth (100 steps cost at most 1.3 x ten
times 10 steps).
"""

from __future__ import annotations

import tempfile
from functools import partial
from pathlib import Path

from bench.common import EXPMAN, call, experiment, median, timed

TARGET_MS = 5.0
COUNTS = (0, 1, 10, 100)


def expfile(steps: int) -> str:
    lines = ["version: 1", f"name: steps-{steps}", "stages:"]
    if steps:
        lines.append("  pre-run:")
        lines += [f'    - {{name: s{i:03d}, cmd: "true"}}' for i in range(steps)]
    lines += ['  run: {cmd: "true"}', '  post-run: {cmd: "true"}', '  fetch: {cmd: "true"}']
    return "\n".join(lines) + "\n"


def main(repeat: int = 7) -> bool:
    """Measure and print; True when the targets are met."""
    with tempfile.TemporaryDirectory() as tmp:
        roots = {n: experiment(Path(tmp) / f"steps-{n}", expfile(n)) for n in COUNTS}
        for root in roots.values():
            call(EXPMAN, "run", cwd=root)
            call(EXPMAN, "end", "-m", "warm-up", cwd=root)
        times: dict[int, list[float]] = {n: [] for n in COUNTS}
        for _ in range(repeat):  # alternating, so that load hits every count alike
            for n, root in roots.items():
                times[n] += timed(partial(call, EXPMAN, "run", "--force", cwd=root), 1)
                call(EXPMAN, "end", "-m", "x", cwd=root)
        shell = median(
            timed(
                lambda: call(
                    "bash", "-c", "for i in $(seq 100); do bash -c true; done", cwd=Path(tmp)
                ),
                repeat,
            )
        )
    base = median(times[0])
    per_bash = shell / 100
    print(
        f"  run --force with no pre-run step: {base:.3f} s; bash -c true: {per_bash * 1000:.2f} ms"
    )
    costs = {}
    for n in COUNTS[1:]:
        total = median(times[n])
        costs[n] = ((total - base) / n - per_bash) * 1000
        whole = (total - n * per_bash) / n * 1000
        print(
            f"  {n:>3} steps: {total:.3f} s; expman's cost per step {costs[n]:.2f} ms "
            f"(the whole run above the baseline, per step: {whole:.2f} ms)"
        )
    linear = median(times[100]) - base <= 1.3 * 10 * (median(times[10]) - base)
    met = costs[100] <= TARGET_MS
    print(
        f"100 executed pre-run steps: {costs[100]:.2f} ms per step above 100 x bash -c true "
        f"({per_bash * 1000:.2f} ms each)  target <= {TARGET_MS:g} ms: "
        f"{'met' if met else 'MISSED'}; growth from 10 to 100 steps "
        f"{'linear' if linear else 'WORSE THAN LINEAR'}"
    )
    return met and linear


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)

"""Executed pre-run steps: what expman adds to each one (its record, logs, doit's state).

`expman run --force` of an experiment with N pre-run steps, each `true`, for N = 0, 1,
10 and 100. Baseline: N x `bash -c true` (how expman starts a `cmd`). The cost per step
is the time above the same run with no pre-run step (start-up, the snapshot and the four
stages are the `overhead` benchmark's row), minus the baseline's per step. Target: at
most 5 ms per step at 100 steps, and linear growth: the cost a step at 100 steps at most
1.3 x that at 10 once the growth of the record's own writes is taken out (a step
rewrites the whole record, which grows with the steps; measured in the same run by
writing the benchmark's own records of 10 and 100 steps). The cost a step at 10 steps is
a difference of runs of about half a second, which the load moves by a few ms a step
between rounds: growth within twice the rounds' spread there (their median absolute
deviation) is not called worse than linear, and the spread is printed.
"""

from __future__ import annotations

import json
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
        for number in range(repeat):  # alternating, so that load hits every count alike
            turn = number % len(COUNTS)  # each count first in turn: none always after `end`
            for n in COUNTS[turn:] + COUNTS[:turn]:
                times[n] += timed(partial(call, EXPMAN, "run", "--force", cwd=roots[n]), 1)
                call(EXPMAN, "end", "-m", "x", cwd=roots[n])
        shell = median(
            timed(
                lambda: call(
                    "bash", "-c", "for i in $(seq 100); do bash -c true; done", cwd=Path(tmp)
                ),
                repeat,
            )
        )
        records = {n: _record_write(roots[n]) for n in (10, 100)}
    base = median(times[0])
    if repeat < len(COUNTS):
        print(
            f"  ({repeat} rounds: the figures at 1 and 10 steps are differences of runs of "
            f"about half a second, within what the load changes between runs)"
        )
    per_bash = shell / 100
    print(
        f"  run --force with no pre-run step: {base:.3f} s; bash -c true: {per_bash * 1000:.2f} ms"
    )
    costs, spreads = {}, {}
    for n in COUNTS[1:]:
        total = median(times[n])
        # Above the run without steps of the same round (seconds apart, under the same
        # load), not above the median of those runs: at 10 steps a drift of the load
        # between rounds would otherwise be tens of ms a step, and the growth check noise.
        rounds = [(t - t0) / n * 1000 for t, t0 in zip(times[n], times[0], strict=True)]
        costs[n] = median(rounds) - per_bash * 1000
        spreads[n] = median([abs(r - median(rounds)) for r in rounds])
        whole = (total - n * per_bash) / n * 1000
        print(
            f"  {n:>3} steps: {total:.3f} s; expman's cost per step {costs[n]:.2f} ms "
            f"(the whole run above the baseline, per step: {whole:.2f} ms)"
        )
    # Each step rewrites the whole record (twice: started, done), whose size grows with
    # the steps: that part of a step's cost grows with their number by design. The rest
    # must not grow: at most 1.3 x from 10 steps to 100 once the record's growth is out.
    record_growth = records[100] - records[10]
    rest_growth = costs[100] - costs[10] - record_growth
    linear = rest_growth <= 0.3 * costs[10] + 2 * spreads[10]
    met = costs[100] <= TARGET_MS
    print(
        f"  a record write (laid out, replaced, not synced): {records[10]:.2f} ms at 10 "
        f"steps, {records[100]:.2f} ms at 100; a step writes it twice, at half its final "
        f"size on average: {record_growth:.2f} ms a step of growth from 10 to 100 steps"
    )
    print(
        f"100 executed pre-run steps: {costs[100]:.2f} ms per step above 100 x bash -c true "
        f"({per_bash * 1000:.2f} ms each)  target <= {TARGET_MS:g} ms: "
        f"{'met' if met else 'MISSED'}; growth from 10 to 100 steps but the record's "
        f"{rest_growth:+.2f} ms a step: {'linear' if linear else 'WORSE THAN LINEAR'} "
        f"(the rounds' spread at 10 steps: {spreads[10]:.2f} ms a step)"
    )
    return met and linear


def _record_write(root: Path, repeat: int = 21) -> float:
    """Milliseconds of one write of the last run's record as a step writes it."""
    from expman import fsutil

    last = max((root / "runs").glob("[0-9]*/run.json"))
    record = json.loads(last.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "run.json"
        took = timed(lambda: fsutil.write_json_atomic(target, record, sync=False), repeat)
    return median(took) * 1000


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)

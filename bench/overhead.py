"""Overhead: `expman run` + `expman end` on four stages that do nothing.

Baseline: the same four commands run by a plain shell script (each through `bash -c`,
as expman runs them). Target: run and end together under 0.35 s median.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.common import EXPMAN, call, experiment, median, report, timed

EXPFILE = """\
version: 1
name: overhead
stages:
  pre-run: {cmd: "true"}
  run: {cmd: "true"}
  post-run: {cmd: "true"}
  fetch: {cmd: "true"}
"""


def main(repeat: int = 15) -> bool:
    """Measure and print; True when the target is met."""
    with tempfile.TemporaryDirectory() as tmp:
        root = experiment(Path(tmp) / "overhead", EXPFILE)
        call(EXPMAN, "run", cwd=root)  # the first run executes pre-run; later ones skip it
        call(EXPMAN, "end", "-m", "warm-up", cwd=root)
        runs, ends = [], []
        for _ in range(repeat):
            runs += timed(lambda: call(EXPMAN, "run", cwd=root), 1)
            ends += timed(lambda: call(EXPMAN, "end", "-m", "x", cwd=root), 1)
        totals = [r + e for r, e in zip(runs, ends, strict=True)]
        script = "bash -c true; bash -c true; bash -c true; bash -c true"
        shell = timed(lambda: call("bash", "-c", script, cwd=root), repeat)
        print(
            f"  expman run {median(runs):.3f} s, expman end {median(ends):.3f} s "
            f"(medians of {repeat})"
        )
        return report(
            "run + end", median(totals), "s", "plain shell script", median(shell), target=0.35
        )


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)

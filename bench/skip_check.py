"""Skip check: deciding that a pre-run step with 1,000 unchanged 1 MB deps can be skipped.

Measured as `expman run --only pre-run` with the step up to date, against the same
experiment whose step has no deps, in the same run: the difference is the decision.
Target: under 0.2 s for the 1,000 deps.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from bench.common import EXPMAN, absolute, call, experiment, median, timed

EXPFILE = """\
version: 1
name: skip-check
stages:
  pre-run:
    cmd: mkdir -p work && touch work/done
    deps: [DEPS]
    targets: [work/done]
  run: {cmd: "true"}
  fetch: {cmd: "true"}
"""


def main(files: int = 1000, size: int = 1 << 20, repeat: int = 11) -> bool:
    """Measure and print; True when the target is met."""
    with tempfile.TemporaryDirectory() as tmp:
        big = experiment(Path(tmp) / "big", EXPFILE.replace("DEPS", "data/"))
        data = big / "data"
        data.mkdir()
        block = os.urandom(size)
        for index in range(files):
            (data / f"part-{index:04d}.bin").write_bytes(index.to_bytes(4, "big") + block[4:])
        small = experiment(Path(tmp) / "small", EXPFILE.replace("DEPS", ""))
        for root in (big, small):
            call(EXPMAN, "run", cwd=root)  # executes the step and saves its state
        with_deps = timed(lambda: call(EXPMAN, "run", "--only", "pre-run", cwd=big), repeat)
        without = timed(lambda: call(EXPMAN, "run", "--only", "pre-run", cwd=small), repeat)
        decision = median(with_deps) - median(without)
        print(
            f"  run --only pre-run, skipped: {median(with_deps):.3f} s with {files} deps of "
            f"{size >> 20} MB, {median(without):.3f} s with none (medians of {repeat})"
        )
        # A difference of two medians, near zero when the decision is cheap (and below it
        # in noise): a ratio to either run would say nothing, so the target is absolute.
        return absolute("skip decision for 1,000 deps", decision, "s", 0.2)


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)

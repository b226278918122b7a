"""Archive: runs that each fetch 200 files, 500 MiB in all, 90% of the bytes the same as
the run before, every file freshly written (new inodes and mtimes, as a fetch makes them).

Measured for the runs after the first: `expman end` (which archives the outputs), the
archive's growth against the changed bytes, and in the same run the baselines `cp -r` of
the outputs and SHA-256 of all their bytes. Targets: growth at most the changed bytes
plus 1%, and `expman end` under 0.5 s median.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from functools import partial
from pathlib import Path

from bench.common import EXPMAN, call, experiment, median, report, timed

FILES, CHANGED = 200, 20  # 20 of 200 files of equal size: 10% of the bytes change
TOTAL = 500 << 20
EXPFILE = """\
version: 1
name: archive
vars:
  RUN: 0
stages:
  run:
    cmd: python3 make_outputs.py
  fetch: {cmd: "true"}
"""
MAKER = f"""\
import os, random
files, changed, size = {FILES}, {CHANGED}, {TOTAL // FILES}
out = os.environ["EXPMAN_OUTPUTS"]
same = random.Random(0).randbytes(size)
fresh = random.Random(int(os.environ["RUN"])).randbytes(size)
for i in range(files):
    data = (fresh if i < changed else same)[:size - 8] + i.to_bytes(8, "big")
    with open(os.path.join(out, f"part-{{i:03d}}.bin"), "wb") as f:
        f.write(data)
"""


def _du(path: Path) -> int:
    """Bytes used under `path`, each inode counted once (as `du` does)."""
    seen: set[int] = set()
    total = 0
    for folder, _, names in os.walk(path):
        for name in names:
            info = (Path(folder) / name).lstat()
            if info.st_ino not in seen:
                seen.add(info.st_ino)
                total += info.st_blocks * 512
    return total


def _sha256_all(folder: Path) -> None:
    for path in sorted(folder.iterdir()):
        hashlib.sha256(path.read_bytes()).hexdigest()


def main(runs: int = 6) -> bool:
    """Measure and print; True when both targets are met."""
    with tempfile.TemporaryDirectory() as tmp:
        root = experiment(Path(tmp) / "archive", EXPFILE, **{"make_outputs.py": MAKER})
        ends, growths, copies, hashes = [], [], [], []
        for number in range(1, runs + 1):
            call(EXPMAN, "run", "-s", f"RUN={number}", cwd=root)
            subprocess.run(["sync"], check=True)
            if number > 1:
                copy = Path(tmp) / "copy"
                copies += timed(
                    partial(call, "cp", "-r", str(root / "outputs"), str(copy), cwd=root), 1
                )
                shutil.rmtree(copy)
                hashes += timed(lambda: _sha256_all(root / "outputs"), 1)
            before = _du(root / "runs")
            elapsed = timed(lambda: call(EXPMAN, "end", "-m", "x", cwd=root), 1)
            if number > 1:
                ends += elapsed
                growths.append(_du(root / "runs") - before)
        changed = TOTAL * CHANGED // FILES
        growth = median([float(g) for g in growths])
        print(
            f"  {runs - 1} runs after the first; each changes {changed >> 20} MiB of "
            f"{TOTAL >> 20} MiB; archive growth per run {growth / (1 << 20):.1f} MiB "
            f"(target <= {changed * 1.01 / (1 << 20):.1f} MiB: "
            f"{'met' if growth <= changed * 1.01 else 'MISSED'}); `cp -r` grows by "
            f"{TOTAL >> 20} MiB"
        )
        print(f"  baseline SHA-256 of all bytes alone: {median(hashes):.3f} s")
        met = report(
            "expman end (archiving)", median(ends), "s", "cp -r", median(copies), target=0.5
        )
        return met and growth <= changed * 1.01


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)

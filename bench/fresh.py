"""Archiving new content: `expman end` when every output is new to the archive.

- 500 MiB in 200 new files; baseline: SHA-256 of the same bytes on one thread of
  Python's hashlib (the least any archive that names content by its hash must do,
  without threads). Target: at most 0.7 x.
- 10,000 new files of 4 KB, and 100,000 of 1 KB; baseline: `cp -r` of the same folder.
  Targets: at most 2 x; `end`'s memory under 300 MB at 100,000 files.

Each run's stage writes its files (not measured); `end` is measured, then the baseline
on the same files, alternating over the runs. Outputs are synced before either starts.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import ENV, EXPMAN, call, experiment, median

EXPFILE = """\
version: 1
name: fresh
vars:
  RUN: 0
stages:
  run:
    cmd: python3 make_outputs.py
  fetch: {cmd: "true"}
"""
MAKER = """\
import os, random
files, size = {files}, {size}
out = os.environ["EXPMAN_OUTPUTS"]
chance = random.Random(int(os.environ["RUN"]))
width = max(1, files // 1000)
for i in range(files):
    folder = os.path.join(out, f"d{{i % width:03d}}")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"f{{i:06d}}.bin"), "wb") as f:
        f.write(chance.randbytes(size))
"""


def _end(root: Path) -> tuple[float, int]:
    """Seconds and peak memory (bytes) of `expman end`."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [EXPMAN, "end", "-m", "x"], cwd=root, env=ENV, stdout=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"expman end failed ({process.returncode})")
    return elapsed, usage.ru_maxrss * 1024


def _settle(root: Path) -> None:
    """Wait until the last `end`'s detached deletion of the outputs is done, and the
    disk has everything: neither must run under the next measurement."""
    trash = root / ".expman" / "trash"
    deadline = time.monotonic() + 300
    while trash.is_dir() and any(trash.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.1)
    subprocess.run(["sync"], check=True)


def _sha256_one_thread(folder: Path) -> float:
    start = time.perf_counter()
    for path in sorted(folder.rglob("*.bin")):
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        digest.hexdigest()
    return time.perf_counter() - start


def _copy_hashing_floor(folder: Path, into: Path) -> float:
    """What storing new content needs at least with SHA-256 and copies: each file read
    once, hashed and written, on as many threads as expman uses."""
    from concurrent.futures import ThreadPoolExecutor

    into.mkdir()

    def one(path: Path) -> str:
        digest = hashlib.sha256()
        with path.open("rb") as src, (into / path.name).open("wb") as dst:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                dst.write(chunk)
        return digest.hexdigest()

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        list(pool.map(one, sorted(folder.rglob("*.bin"))))
    elapsed = time.perf_counter() - start
    shutil.rmtree(into)
    return elapsed


def _cp(folder: Path, into: Path) -> float:
    start = time.perf_counter()
    subprocess.run(["cp", "-r", str(folder), str(into)], check=True)
    elapsed = time.perf_counter() - start
    shutil.rmtree(into)
    return elapsed


def _case(tmp: Path, files: int, size: int, runs: int, baseline: str) -> tuple[float, float, int]:
    """Medians of `end` and of the baseline over `runs` runs, and the peak memory."""
    maker = MAKER.format(files=files, size=size)
    root = experiment(tmp / f"fresh-{files}x{size}", EXPFILE, **{"make_outputs.py": maker})
    ends, bases, peaks, floors = [], [], [], []
    for number in range(1, runs + 1):
        call(EXPMAN, "run", "-s", f"RUN={number}", cwd=root)  # new content every run
        _settle(root)
        if baseline == "sha256":
            bases.append(_sha256_one_thread(root / "outputs"))
            _settle(root)
            floors.append(_copy_hashing_floor(root / "outputs", tmp / "floor"))
        else:
            bases.append(_cp(root / "outputs", tmp / "copy"))
        _settle(root)
        elapsed, peak = _end(root)
        ends.append(elapsed)
        peaks.append(peak)
    shutil.rmtree(root, ignore_errors=True)  # a detached `rm` of `end` may be at work
    if floors:
        print(
            f"  the floor of storing new content with SHA-256 and copies (read, hash and "
            f"write each file once, on the pool's threads): {median(floors):.3f} s"
        )
    return median(ends), median(bases), max(peaks)


LARGE = 100_000  # the count of 1 KB files; `--quick` measures fewer


def main(runs: int = 3, small_files: int = LARGE, new_mib: int = 500) -> bool:
    """Measure and print; True when every target is met. `small_files`: how many new
    files of 1 KB, `new_mib`: the MiB of the 200 big new files (`python -m bench --quick`
    takes 10,000 and 200: its rows, not at their sizes)."""
    met = True
    cases = [
        (200, (new_mib << 20) // 200, "sha256", 0.7, runs),
        (10_000, 4096, "cp -r", 2.0, runs),
        (small_files, 1024, "cp -r", 2.0, 2),  # two: each costs a minute of file making
    ]
    if small_files < LARGE or new_mib < 500:
        print(
            f"  (quick: {new_mib} MiB in 200 new files, not 500; {small_files:,} new files of "
            f"1 KB, not {LARGE:,}: the ratios at the full sizes may differ, and the memory "
            f"target is not checked)"
        )
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        for files, size, baseline, target, times in cases:
            end, base, peak = _case(Path(tmp), files, size, times, baseline)
            ratio = end / base
            memory_ok = files < LARGE or peak < 300 << 20
            ok = ratio <= target and memory_ok
            met &= ok
            shown = "SHA-256 on one thread" if baseline == "sha256" else "cp -r"
            print(
                f"expman end archiving {files:,} new files of {size:,} bytes: {end:.3f} s "
                f"(peak memory {peak / (1 << 20):.0f} MiB); {shown}: {base:.3f} s "
                f"(ratio {ratio:.2f})  target <= {target:g} x"
                f"{' and < 300 MiB' if files >= LARGE else ''}: {'met' if ok else 'MISSED'}"
            )
    return met


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)

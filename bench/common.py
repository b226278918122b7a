"""Helpers shared by the benchmarks: timing, experiments in temporary folders, reporting."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

BIN = Path(sys.executable).parent
EXPMAN = str(BIN / "expman")


def timed(action: Callable[[], object], repeat: int) -> list[float]:
    """Wall-clock seconds of `repeat` calls of `action`."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return times


def load() -> str:
    """The machine's load (1, 5 and 15 minutes), to print beside each figure."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


def median(values: list[float]) -> float:
    """The median: the machines are noisy, means are not to be trusted."""
    return statistics.median(values)


# Some machines set PYTHONDONTWRITEBYTECODE, which makes every start compile expman's
# modules from source; an installed expman has its bytecode compiled by pip at install
# time, so the benchmarks measure without it (docs/performance.md).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def call(*args: str, cwd: Path) -> None:
    """Run a command; fail loudly when it fails."""
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False, env=ENV)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({result.returncode}):\n{result.stderr}")


def experiment(root: Path, expfile: str, **files: str | bytes) -> Path:
    """An experiment in a fresh git repository."""
    root.mkdir(parents=True)
    (root / "expfile.yaml").write_text(expfile)
    (root / ".gitignore").write_text("/.expman/\n/outputs/\n/runs/\n/data/\n/work/\n")
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
    call(*git, "init", "-q", cwd=root)
    call(*git, "add", "-A", cwd=root)
    call(*git, "commit", "-qm", "bench", cwd=root)
    return root


def report(
    name: str,
    figure: float,
    unit: str,
    baseline_name: str,
    baseline: float,
    target: float | None = None,
) -> bool:
    """Print one figure with its baseline and target; True when the target is met."""
    ratio = figure / baseline if baseline else float("inf")
    verdict = ""
    met = True
    if target is not None:
        met = figure <= target
        verdict = f"  target <= {target:g} {unit}: {'met' if met else 'MISSED'}"
    print(
        f"{name}: {figure:.3f} {unit} median; {baseline_name}: {baseline:.3f} {unit} "
        f"(ratio {ratio:.2f}){verdict}"
    )
    return met


def absolute(name: str, figure: float, unit: str, target: float, beside: str = "") -> bool:
    """Print a figure against an absolute target, with no ratio: for a figure whose only
    baseline would be about zero or do other work (`beside` says what it is, for scale);
    True when the target is met."""
    met = figure <= target
    shown = f"; {beside}" if beside else ""
    print(
        f"{name}: {figure:.3f} {unit}{shown} (no ratio: an absolute target)  "
        f"target <= {target:g} {unit}: {'met' if met else 'MISSED'}"
    )
    return met

"""A real one-node Slurm (started by scripts/slurm-cluster, as CI does), and helpers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import missing

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]


def _cluster_problem() -> str | None:
    if shutil.which("sbatch") is None or shutil.which("squeue") is None:
        return "Slurm is not installed: run `sudo bash scripts/slurm-cluster start`"
    ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True)
    if "UP" not in ping.stdout:
        return "the Slurm controller does not answer: run `sudo bash scripts/slurm-cluster start`"
    return None


@pytest.fixture(scope="session")
def cluster() -> None:
    """Skip (fail in CI) when no Slurm cluster answers."""
    problem = _cluster_problem()
    if problem is not None:
        missing(f"no Slurm cluster for the Slurm tests: {problem}")


def expman(
    root: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "expman"), *args], cwd=root, capture_output=True, text=True, timeout=300, env=env
    )


def record(root: Path, run_id: str = "0001") -> dict[str, Any]:
    return json.loads((root / "runs" / run_id / "run.json").read_text())  # type: ignore[no-any-return]


def wait_for(condition: Callable[[], bool], seconds: float = 90, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting: {what}"
        time.sleep(0.2)


def squeue(job: str) -> str:
    """The state Slurm gives a job now ('' when it does not list it)."""
    done = subprocess.run(
        ["squeue", "-h", "-r", "-t", "all", "-j", job, "-o", "%T"], capture_output=True, text=True
    )
    return done.stdout.strip()

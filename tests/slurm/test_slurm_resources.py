"""What a Slurm job's run used, beside what it asked for and was granted (SPEC §15)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.slurm.conftest import expman, record, wait_for

pytestmark = [pytest.mark.usefixtures("cluster"), pytest.mark.slow]
Experiment = Callable[..., Path]

EXPFILE = """\
version: 1
name: asked
resources: {every: 0.2}
slurm: {memory: 2000M}
stages:
  run:
    cmd: python3 -c "import time; b = bytearray(150 << 20); b[::4096] = b'x' * 38400; time.sleep(2)"
  fetch: {cmd: "true"}
"""


def test_a_job_records_what_it_used_beside_what_it_asked_and_was_granted(
    experiment: Experiment,
) -> None:
    root = experiment(EXPFILE)
    done = expman(root, "run", "--on", "slurm")
    assert done.returncode == 0, done.stderr
    wait_for(lambda: record(root)["status"] not in ("queued", "running"), what="the job to end")
    run = record(root)
    assert run["status"] == "succeeded", run
    assert run["backend"]["granted"]["memory_mb"] == 2000
    assert run["backend"]["requested"]["memory"] == "2000M"
    assert 150 <= run["resources"]["rss_peak_mb"] < 400, run["resources"]
    # A job that used under a fifth of the memory it was granted: an over-asking job.
    over = "ratio(resources.rss_peak_mb, backend.granted.memory_mb) < `0.2`"
    found = expman(root, "query", f"[?{over}].id")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout) == ["0001"]


def test_memory_granted_per_cpu_is_recorded_as_the_jobs_whole(experiment: Experiment) -> None:
    """With `--mem-per-cpu`, Slurm gives the job that much for each of its CPUs: the record's
    `granted.memory_mb` is the job's memory (as with `--mem`), never the per-CPU figure."""
    root = experiment(
        EXPFILE.replace("slurm: {memory: 2000M}", 'slurm: {cpus: 2, sbatch: ["--mem-per-cpu=700"]}')
    )
    done = expman(root, "run", "--on", "slurm")
    assert done.returncode == 0, done.stderr
    wait_for(lambda: record(root)["status"] not in ("queued", "running"), what="the job to end")
    granted = record(root)["backend"]["granted"]
    assert granted["cpus"] == 2
    assert granted["memory_mb"] == 1400

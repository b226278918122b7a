"""A run on Slurm read from Python: the record's backend as columns while it is queued or
running and once it ended, and its series (the job wrote them on the node)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from expman import api
from tests.slurm.conftest import expman, record, wait_for

pytestmark = [pytest.mark.usefixtures("cluster"), pytest.mark.slow]

EXPFILE = """\
version: 1
name: onslurm
vars: {X: 1, PAUSE: 0}
stages:
  run:
    cmd: |
      echo "{\\"step\\": 1, \\"loss\\": $X}" >> "$EXPMAN_METRICS"
      echo "{\\"step\\": 2, \\"loss\\": 0.5}" >> "$EXPMAN_METRICS"
      sleep "$PAUSE"
  fetch: {cmd: "true"}
"""


def test_a_slurm_run_reads_from_python_queued_and_ended(
    experiment: Callable[..., Path],
) -> None:
    root = experiment(EXPFILE)
    done = expman(root, "run", "--on", "slurm", "-s", "X=5", "-s", "PAUSE=2")
    assert done.returncode == 0, done.stderr
    archive = api.open(root)
    columns = ["id", "status", "backend.name", "backend.job_id"]
    early = archive.runs(columns=columns).rows()
    job = record(root)["backend"]["job_id"]
    assert early[0]["status"] in ("queued", "running", "succeeded")
    assert early[0]["backend.name"] == "slurm" and early[0]["backend.job_id"] == job
    wait_for(lambda: record(root)["status"] == "succeeded", what="the job to end")
    ended = archive.runs(columns=[*columns, "backend.node", "series.loss.last"]).rows()
    assert ended[0]["status"] == "succeeded" and ended[0]["backend.node"]
    assert ended[0]["series.loss.last"] == 0.5
    curve = archive.series(sampled=False).rows()
    assert [(r["id"], r["step"], r["value"]) for r in curve] == [("0001", 1, 5), ("0001", 2, 0.5)]
    assert archive.run("last").logs(), "the job's logs are the run's"

"""A point's claim left on another host by a Slurm job that died (`scancel -s KILL`, a
node lost): Slurm tells whether its holder may still run, so that a resume on the login
node, or a task on another node, takes the point over once the job is over."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest

from expman.store.archive import Archive
from expman.sweeps.store import CLAIMS, Sweeps
from tests.slurm.conftest import squeue, wait_for

pytestmark = [pytest.mark.usefixtures("cluster"), pytest.mark.slow]


def _claimed_by(sweeps: Sweeps, holder: dict[str, object]) -> None:
    (sweeps.folder("s0001") / CLAIMS / "0").write_text(json.dumps(holder))


def test_a_claim_of_a_slurm_job_on_another_host_is_taken_over_once_slurm_ends_it(
    tmp_path: Path,
) -> None:
    sweeps = Sweeps(Archive(tmp_path / "runs"))
    sweeps.create({"definition": {}, "graph": "g"}, [])
    name = f"expman-claims-{tmp_path.name}"[:60]
    job = subprocess.run(
        ["sbatch", "--parsable", "-J", name, "-o", "/dev/null", "--wrap", "sleep 300"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    elsewhere = {"host": f"not-{socket.gethostname()}", "pid": 1, "start_ticks": 1}
    try:
        _claimed_by(sweeps, {**elsewhere, "slurm_job": {"id": job, "name": name}})
        assert not sweeps.claims("s0001").take(0), "its job is queued or running: alive"
        _claimed_by(sweeps, {**elsewhere, "slurm_job": {"id": job, "name": "another-name"}})
        assert sweeps.claims("s0001").take(0), "Slurm lists no such job under that name"
        sweeps.claims("s0001").release(0)
        _claimed_by(sweeps, {**elsewhere, "slurm_job": {"id": job, "name": name}})
    finally:
        subprocess.run(["scancel", job], check=True)
    wait_for(lambda: squeue(job) in ("", "CANCELLED", "COMPLETED"), seconds=60, what="cancelled")
    assert sweeps.claims("s0001").take(0), "its job is over: the claim is taken over"
    sweeps.claims("s0001").release(0)
    _claimed_by(sweeps, elsewhere)  # no job to ask about: only its own host can tell
    assert not sweeps.claims("s0001").take(0)
    unaskable = [{"id": "1; rm -rf /", "name": name}, {"id": job}, "12_3", {"id": 12}]
    for job_said in [*unaskable, {"id": job, "name": f"{name},another-name"}]:
        _claimed_by(sweeps, {**elsewhere, "slurm_job": job_said})
        assert not sweeps.claims("s0001").take(0), job_said

"""Runs and sweeps as real Slurm jobs, on the one-node cluster of scripts/slurm-cluster."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from expman.processes import same_process_alive
from tests.slurm.conftest import REPO, expman, record, squeue, wait_for

# Slow ones all (each waits for real jobs): `doit check` and CI run them, `doit quick` not.
pytestmark = [pytest.mark.usefixtures("cluster"), pytest.mark.slow]
Experiment = Callable[..., Path]

EXPFILE = """\
version: 1
name: onslurm
vars: {X: 1, Y: a, PAUSE: 0, FAIL: false, EVIL: plain}
stages:
  run:
    cmd: |
      echo "x=$X y=$Y evil=$EVIL"
      echo "{\\"step\\": 1, \\"loss\\": $X}" >> "$EXPMAN_METRICS"
      sleep "$PAUSE"
      test "$FAIL" = false
  fetch: {cmd: "true"}
"""


@pytest.fixture
def slurm_experiment(experiment: Experiment) -> Path:
    return experiment(EXPFILE)


def _final(root: Path, run_id: str = "0001") -> dict:  # type: ignore[type-arg]
    wait_for(
        lambda: record(root, run_id)["status"] in ("succeeded", "failed", "interrupted"),
        what=f"run {run_id} to end",
    )
    return record(root, run_id)


def test_a_run_is_a_job_whose_record_says_queued_running_and_how_it_ended(
    slurm_experiment: Path,
) -> None:
    root = slurm_experiment
    done = expman(
        root, "run", "--on", "slurm", "-s", "X=5", "-s", "EVIL=$(touch pwned)", "-s", "PAUSE=1"
    )
    assert done.returncode == 0, done.stderr
    assert "queued as Slurm job" in done.stdout
    queued = record(root)
    job = queued["backend"]["job_id"]
    assert queued["status"] == "queued" and queued["backend"]["name"] == "slurm"
    name = queued["backend"]["job_name"]
    assert name.startswith("expman-onslurm-0001-") and squeue(job) in ("PENDING", "RUNNING")
    by_name = subprocess.run(
        ["squeue", "-h", "--name", name, "-o", "%i"], capture_output=True, text=True
    )
    assert by_name.stdout.strip() == job, "squeue --name finds the run's job"
    batch = (root / "runs" / "0001" / "slurm" / "job.sbatch").read_text()
    lines = batch.splitlines()
    block = [i for i, line in enumerate(lines) if line.startswith("#SBATCH")]
    assert block == list(range(1, len(block) + 1)), "the #SBATCH lines are one block"
    assert "'EVIL=$(touch pwned)'" in batch, "values reach the script quoted"
    _runs_only_the_stable_entry(batch, "_slurm-job")
    wait_for(lambda: record(root)["status"] != "queued", what="the job to start")
    run = _final(root)
    assert run["status"] == "succeeded", run
    assert not (root / "pwned").exists()
    backend = run["backend"]
    assert backend["job_id"] == job and backend["node"] and backend["granted"]["cpus"] >= 1
    assert run["attempts"][0]["backend"]["job_id"] == job
    assert run["series"]["loss"]["last"] == 5
    log = (root / "runs" / "0001" / "logs" / "run.out").read_text()
    assert "evil=$(touch pwned)" in log
    assert (root / "runs" / "0001" / "slurm" / f"job-{job}.out").is_file()
    # A local run of the same experiment now opens an attempt as usual (the job is done).
    assert expman(root, "end", "-m", "ok").returncode == 0


def test_a_failing_job_records_failed(slurm_experiment: Path) -> None:
    root = slurm_experiment
    assert expman(root, "run", "--on", "slurm", "-s", "FAIL=true").returncode == 0
    run = _final(root)
    assert run["status"] == "failed"
    assert [s["status"] for s in run["stages"]] == ["failed", "ran"]


def test_a_queued_run_is_not_run_here_and_cancel_of_a_pending_job_records_it(
    slurm_experiment: Path,
) -> None:
    root = slurm_experiment
    held = expman(root, "run", "--on", "slurm", "--slurm", "sbatch=--hold")
    assert held.returncode == 0, held.stderr
    job = record(root)["backend"]["job_id"]
    assert squeue(job) == "PENDING"
    local = expman(root, "run")
    assert local.returncode == 2 and "is queued on Slurm" in local.stderr
    assert expman(root, "end", "-m", "x").returncode == 2
    done = expman(root, "cancel", "1")
    assert done.returncode == 0, done.stderr
    run = record(root)
    assert run["status"] == "interrupted" and "cancelled" in run["backend"]["problem"]
    wait_for(lambda: squeue(job) in ("CANCELLED", ""))


def test_scancel_of_a_pending_job_with_slurms_own_tool_is_found_by_status(
    slurm_experiment: Path,
) -> None:
    root = slurm_experiment
    assert expman(root, "run", "--on", "slurm", "--slurm", "sbatch=--hold").returncode == 0
    job = record(root)["backend"]["job_id"]
    subprocess.run(["scancel", job], check=True)
    wait_for(lambda: squeue(job) in ("CANCELLED", ""))
    status = expman(root, "status")
    assert status.returncode == 0
    run = record(root)
    assert run["status"] == "interrupted"
    assert f"Slurm job {job}" in run["backend"]["problem"]


def test_scancel_of_a_running_job_interrupts_its_run_and_stops_its_stages(
    slurm_experiment: Path,
) -> None:
    root = slurm_experiment
    assert expman(root, "run", "--on", "slurm", "-s", "PAUSE=300").returncode == 0
    wait_for(lambda: any(s.get("pid") for s in record(root).get("stages") or []), what="stage")
    stage_pid = record(root)["stages"][0]["pid"]
    done = expman(root, "cancel", "last")
    assert done.returncode == 0, done.stderr
    run = _final(root)
    assert run["status"] == "interrupted"
    assert run["attempts"][0]["reason"].startswith("stopped by Slurm")
    wait_for(lambda: not same_process_alive(stage_pid, None), seconds=30, what="stage gone")
    shown = expman(root, "show", "last").stdout
    job, node = run["backend"]["job_id"], run["backend"]["node"]
    assert f"  ran as:       Slurm job {job} on node {node}\n" in shown
    assert f"  stopped:      interrupted: {run['attempts'][0]['reason']}\n" in shown


def _other_job(tmp_path: Path) -> tuple[str, str]:
    """A held job of this user that is no expman job: (id, its unique name)."""
    name = f"not-expman-{tmp_path.name}-{os.getpid()}"
    done = subprocess.run(
        ["sbatch", "--parsable", "--hold", "-J", name, "--wrap", "true", "-o", "/dev/null"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip(), name


def _edit(path: Path, part: Callable[[Any], dict[str, Any]], **fields: Any) -> None:
    """Edit a JSON file by hand: `fields` set in `part` of it."""
    data = json.loads(path.read_text())
    part(data).update(fields)
    path.write_text(json.dumps(data))


def test_cancel_scancels_only_the_runs_own_job_never_what_its_record_names(
    slurm_experiment: Path, tmp_path: Path
) -> None:
    """A record edited by hand (or from elsewhere) may name another job of the user, or an
    option: the job cancelled is the one Slurm lists under the name expman gave the run."""
    root = slurm_experiment
    assert expman(root, "run", "--on", "slurm", "-s", "PAUSE=300").returncode == 0
    wait_for(lambda: any(s.get("pid") for s in record(root).get("stages") or []), what="stage")
    path = root / "runs" / "0001" / "run.json"
    own, own_name = record(root)["backend"]["job_id"], record(root)["backend"]["job_name"]
    other, other_name = _other_job(tmp_path)
    try:
        for job_id, job_name in (
            (other, own_name),  # another job of the user
            (other, other_name),  # and its name
            (f"--name={other_name}", own_name),  # an option
            (f"{own} {other}", own_name),
        ):
            _edit(path, lambda run: run["backend"], job_id=job_id, job_name=job_name)
            done = expman(root, "cancel", "1")
            assert done.returncode == 2, (job_id, done.stdout, done.stderr)
            assert done.stderr.startswith("expman: run 0001: "), done.stderr
            assert "nothing cancelled" in done.stderr, done.stderr
            assert squeue(other) == "PENDING" and squeue(own) == "RUNNING"
        _edit(path, lambda run: run["backend"], job_id=own, job_name=own_name)
        done = expman(root, "cancel", "1")
        assert done.returncode == 0, done.stderr
        assert _final(root)["status"] == "interrupted"
        assert squeue(other) == "PENDING"
    finally:
        subprocess.run(["scancel", other], check=False)


def test_cancel_of_a_sweep_scancels_only_its_own_arrays_and_of_a_point_its_task(
    slurm_experiment: Path, tmp_path: Path
) -> None:
    root = slurm_experiment
    done = expman(
        root, "sweep", "-s", "X=1..3", "--on", "slurm", "--slurm", "throttle=1", "-s", "PAUSE=300"
    )
    assert done.returncode == 0, done.stderr
    wait_for(lambda: (root / "runs" / "0001").is_dir() and record(root)["status"] == "running")
    cancelled = expman(root, "cancel", "1")  # one point, by its run: its own task alone
    assert cancelled.returncode == 0, cancelled.stderr
    wait_for(lambda: record(root)["status"] == "interrupted", what="the cancelled point")
    jobs = root / "runs" / "sweeps" / "s0001" / "slurm" / "jobs.json"
    array = json.loads(jobs.read_text())[0]["job_id"]
    wait_for(lambda: squeue(f"{array}_1") == "RUNNING", what="the next point")
    other, other_name = _other_job(tmp_path)
    try:
        for job_id in (other, f"--name={other_name}", f"{array},{other}"):
            _edit(jobs, lambda arrays: arrays[0], job_id=job_id)
            done = expman(root, "cancel", "s0001")
            assert done.returncode == 2, (job_id, done.stdout, done.stderr)
            assert done.stderr.startswith("expman: sweep s0001: "), done.stderr
            assert squeue(other) == "PENDING" and squeue(f"{array}_1") == "RUNNING"
        _edit(jobs, lambda arrays: arrays[0], job_id=array)
        assert expman(root, "cancel", "s0001").returncode == 0
        wait_for(lambda: squeue(f"{array}_1") in ("CANCELLED", "COMPLETING", ""), what="cancel")
        assert squeue(other) == "PENDING"
    finally:
        subprocess.run(["scancel", other], check=False)


def test_slurms_warning_signal_interrupts_and_a_resumable_run_is_requeued(
    slurm_experiment: Path,
) -> None:
    root = slurm_experiment
    submitted = expman(root, "run", "--on", "slurm", "-s", "PAUSE=300", "--slurm", "resumable=true")
    assert submitted.returncode == 0, submitted.stderr
    job = record(root)["backend"]["job_id"]
    wait_for(lambda: any(s.get("pid") for s in record(root).get("stages") or []), what="stage")
    subprocess.run(["scancel", "--signal=USR2", "--batch", job], check=True)
    wait_for(lambda: record(root)["attempts"][0].get("reason") is not None, what="the reason")
    run = record(root)
    attempt = run["attempts"][0]
    assert attempt["status"] == "interrupted"
    assert (
        attempt["reason"].startswith("time limit or preemption") and "requeued" in attempt["reason"]
    )
    assert run["status"] == "queued"
    wait_for(lambda: squeue(job) in ("PENDING", "REQUEUED", "REQUEUE_HOLD"), what="requeued")
    assert expman(root, "cancel", "1").returncode == 0
    assert record(root)["status"] == "interrupted"


def test_a_time_limit_hitting_a_stage_is_recorded(slurm_experiment: Path) -> None:
    """--time=1 (a minute) and a warning 30 s before it: the real clock, not a signal we send."""
    root = slurm_experiment
    args = ["--slurm", "time=1", "--slurm", "warning=30", "-s", "PAUSE=300"]
    assert expman(root, "run", "--on", "slurm", *args).returncode == 0
    run = _final(root)
    assert run["status"] == "interrupted"
    assert run["attempts"][0]["reason"].startswith("time limit or preemption")
    assert "requeued" not in run["attempts"][0]["reason"]


def test_a_three_by_three_sweep_is_an_array_throttled_to_two(slurm_experiment: Path) -> None:
    root = slurm_experiment
    started = time.monotonic()
    done = expman(
        root,
        "sweep",
        "-s",
        "X=1..3",
        "-s",
        "Y=a,b,c",
        "--on",
        "slurm",
        "--slurm",
        "throttle=2",
        "-s",
        "PAUSE=1",
    )
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 10, "submission returns at once"
    arrays = (root / "runs" / "sweeps" / "s0001" / "slurm" / "array-1.sbatch").read_text()
    assert "#SBATCH --array=0-8%2" in arrays
    _runs_only_the_stable_entry(arrays, "_array-task")
    status = expman(root, "sweep", "status")
    assert "queued (job" in status.stdout or "running" in status.stdout
    wait_for(
        lambda: "9 succeeded" in expman(root, "sweep", "status").stdout, seconds=180, what="sweep"
    )
    runs = [record(root, f"{i:04d}") for i in range(1, 10)]
    assert sorted(r["sweep"]["index"] for r in runs) == list(range(9))
    assert all(r["status"] == "succeeded" and r["backend"]["array_job_id"] for r in runs)
    spans = [(r["attempts"][0]["started_epoch"], r["attempts"][0]["ended_epoch"]) for r in runs]
    most = max(sum(1 for a, b in spans if a <= t < b) for t, _ in spans)
    assert most <= 2, "the throttle held"


def test_cancel_of_a_sweep_stops_its_points_and_status_says_what_became_of_each(
    slurm_experiment: Path,
) -> None:
    root = slurm_experiment
    done = expman(
        root, "sweep", "-s", "X=1..4", "--on", "slurm", "--slurm", "throttle=1", "-s", "PAUSE=300"
    )
    assert done.returncode == 0, done.stderr
    wait_for(lambda: (root / "runs" / "0001").is_dir() and record(root)["status"] == "running")
    assert expman(root, "cancel", "s0001").returncode == 0
    wait_for(lambda: record(root)["status"] == "interrupted", what="the running point")
    assert record(root)["attempts"][0]["reason"].startswith("stopped by Slurm")
    status = expman(root, "sweep", "status")
    assert status.stdout.count("cancelled (job") == 3, status.stdout
    _the_unstarted_points_are_noted_once(root / "runs" / "sweeps" / "s0001" / "results")
    resumed = expman(root, "sweep", "--resume", "s0001", "-s", "PAUSE=0")
    assert resumed.returncode == 2  # a resume runs the sweep as it was defined


def _runs_only_the_stable_entry(batch: str, name: str) -> None:
    """A batch script runs `python -m expman NAME ...` (`expman.entries`) and names no
    module of expman's: a job queued today must still run once a module has moved."""
    import shlex

    (command,) = [shlex.split(line) for line in batch.splitlines() if line.startswith("exec ")]
    assert command[2:5] == ["-m", "expman", name], command
    assert not [part for part in command if part.startswith("expman.")], command


def _the_unstarted_points_are_noted_once(results: Path) -> None:
    """`sweep status` noted each point whose Slurm task ended without running it (its task
    cancelled while pending) as interrupted, saying why, in the sweep's results; the point
    that ran keeps its own; a second `status` writes none of them again."""
    noted = {int(p.stem): json.loads(p.read_text()) for p in results.glob("*.json")}
    assert noted[0]["run"] == "0001" and "reason" not in noted[0], noted[0]
    for index in (1, 2, 3):
        assert noted[index]["status"] == "interrupted", noted
        assert noted[index]["reason"].startswith("its Slurm task never ran it: cancelled (job")
    written = {p.name: p.stat().st_mtime_ns for p in results.glob("*.json")}
    assert expman(results.parents[3], "sweep", "status").returncode == 0
    assert {p.name: p.stat().st_mtime_ns for p in results.glob("*.json")} == written


def test_a_point_whose_job_died_with_its_node_is_recorded_interrupted(
    slurm_experiment: Path,
) -> None:
    """The point process and its stage killed at once (as a lost node would leave it):
    the heartbeat stops, Slurm ends the task, and the next reader records the truth."""
    root = slurm_experiment
    env = {**os.environ, "EXPMAN_HEARTBEAT": "0.2"}  # sbatch passes the environment on
    done = expman(root, "sweep", "-s", "X=1", "-s", "PAUSE=300", "--on", "slurm", env=env)
    assert done.returncode == 0, done.stderr
    wait_for(
        lambda: (
            (root / "runs" / "0001").is_dir()
            and any(s.get("pid") for s in record(root).get("stages") or [])
        ),
        what="the point's stage",
    )
    run = record(root)
    assert run["backend"]["array_job_id"] and run["backend"]["job_name"].startswith("expman-")
    task = f"{run['backend']['array_job_id']}_{run['backend']['array_index']}"
    os.killpg(run["stages"][0]["pid"], signal.SIGKILL)
    os.kill(run["attempts"][0]["runner"]["pid"], signal.SIGKILL)
    wait_for(lambda: squeue(task) not in ("PENDING", "RUNNING", "COMPLETING"), what="task end")
    time.sleep(1)  # the heartbeat is overdue after three intervals of 0.2 s
    assert expman(root, "list").returncode == 0
    run = record(root)
    assert run["status"] == "interrupted", run["status"]
    assert f"Slurm job {task} ended" in run["attempts"][0]["reason"]


def test_a_submitter_killed_right_after_sbatch_loses_nothing(
    slurm_experiment: Path, tmp_path: Path
) -> None:
    """A fake sbatch on PATH runs the real one, then kills the expman that called it."""
    fake = tmp_path / "bin"
    fake.mkdir()
    sbatch = fake / "sbatch"
    sbatch.write_text(f'#!/bin/bash\n{_real("sbatch")} "$@"\nkill -9 $PPID\n')
    sbatch.chmod(sbatch.stat().st_mode | stat.S_IXUSR)
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}
    root = slurm_experiment
    done = expman(root, "run", "--on", "slurm", env=env)
    assert done.returncode == -signal.SIGKILL
    assert record(root)["backend"]["job_id"] is None  # killed before it could say which
    run = _final(root)
    assert run["status"] == "succeeded", "the job ran and recorded itself"
    assert run["backend"]["job_id"], "the attempt says which job it was"


def test_sbatch_refusing_or_answering_nonsense_is_said_and_nothing_is_queued(
    slurm_experiment: Path, tmp_path: Path
) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    sbatch = fake / "sbatch"
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}
    root = slurm_experiment
    for body, message in (
        (
            "echo 'sbatch: error: invalid partition specified: nope' >&2; exit 1",
            "invalid partition",
        ),
        ("echo 'Submitted batch job'", "not a job id"),
    ):
        sbatch.write_text(f"#!/bin/bash\n{body}\n")
        sbatch.chmod(0o755)
        done = expman(root, "run", "--on", "slurm", env=env)
        assert done.returncode == 2 and message in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
        assert record(root)["status"] == "started", "nothing was queued"
    bad = expman(root, "run", "--on", "slurm", "--slurm", "time=soon")
    assert bad.returncode == 2 and "--slurm time=soon" in bad.stderr


def test_squeue_failing_or_answering_nonsense_changes_no_record(
    slurm_experiment: Path, tmp_path: Path
) -> None:
    root = slurm_experiment
    assert expman(root, "run", "--on", "slurm", "--slurm", "sbatch=--hold").returncode == 0
    fake = tmp_path / "bin"
    fake.mkdir()
    squeue_fake = fake / "squeue"
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}
    for body in (
        "echo 'slurm_load_jobs error: Unable to contact slurm controller' >&2; exit 1",
        "echo 'JOBID PARTITION NAME'; echo '<html>'",
    ):
        squeue_fake.write_text(f"#!/bin/bash\n{body}\n")
        squeue_fake.chmod(0o755)
        for command in (["status"], ["watch", "--once"], ["list"]):
            done = expman(root, *command, env=env)
            assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        assert record(root)["status"] == "queued", "no answer is no evidence of a gone job"
    assert expman(root, "cancel", "1").returncode == 0


def test_wiping_slurms_state_between_two_sweeps_confuses_nothing(slurm_experiment: Path) -> None:
    """Job ids start again at 1: a run queued before the wipe, whose id a new job takes,
    is recorded as vanished, not taken for the new job."""
    root = slurm_experiment
    assert expman(root, "sweep", "-s", "X=1,2", "--on", "slurm").returncode == 0
    wait_for(lambda: "2 succeeded" in expman(root, "sweep", "status").stdout, what="first sweep")
    assert expman(root, "run", "--on", "slurm", "--slurm", "sbatch=--hold").returncode == 0
    held = record(root, "0003")
    wipe = subprocess.run(
        ["bash", str(REPO / "scripts" / "slurm-cluster"), "wipe"], capture_output=True, text=True
    )
    assert wipe.returncode == 0, wipe.stderr
    other = subprocess.run(
        ["sbatch", "--parsable", "--hold", "--wrap", "sleep 1", "-o", "/dev/null"],
        capture_output=True,
        text=True,
    )
    assert other.returncode == 0
    ids = [other.stdout.strip()]
    while ids[-1] != held["backend"]["job_id"] and int(ids[-1]) < int(held["backend"]["job_id"]):
        ids.append(
            subprocess.run(
                ["sbatch", "--parsable", "--hold", "--wrap", "true", "-o", "/dev/null"],
                capture_output=True,
                text=True,
            ).stdout.strip()
        )
    assert squeue(held["backend"]["job_id"]) == "PENDING", "another job has the held run's id"
    assert expman(root, "status").returncode == 0
    run = record(root, "0003")
    assert run["status"] == "interrupted" and "vanished" in run["backend"]["problem"]
    subprocess.run(["scancel", *ids], check=False)
    assert "2 succeeded" in expman(root, "sweep", "status", "s0001").stdout
    assert expman(root, "end", "-m", "after the wipe").returncode == 0
    assert expman(root, "sweep", "-s", "X=3,4", "--on", "slurm").returncode == 0
    wait_for(
        lambda: "2 succeeded" in expman(root, "sweep", "status", "s0002").stdout, what="second"
    )


def _real(command: str) -> str:
    import shutil

    found = shutil.which(command)
    assert found is not None
    return found

"""Slurm: submitting a big sweep, re-attaching to it, and what a run costs on the cluster.

Needs a Slurm cluster (`sudo bash scripts/slurm-cluster start` gives a one-node one);
without one it says so and measures nothing. Each figure against a baseline measured in
the same run:
- `expman sweep` of 1,000 points `--on slurm` (held, then cancelled): under 1 s end to end;
  baseline: one `sbatch --array=0-999` of the same size.
- `expman sweep status` of those 1,000 points in flight: under 0.5 s; baseline: `squeue`.
- wall time of 10 trivial runs as a sweep on Slurm, submit to last record: at most 1.3 x
  that of 10 plain `sbatch --wrap true` jobs (an array of 10) on the same cluster.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import EXPMAN, absolute, call, experiment, median, report, timed

EXPFILE = """\
version: 1
name: bench-slurm
vars: {X: 0}
stages:
  run: {cmd: "true"}
  fetch: {cmd: "true"}
"""


def _plain_array(count: int) -> str:
    done = subprocess.run(
        ["sbatch", "--parsable", f"--array=0-{count - 1}", "-o", "/dev/null", "--wrap", "true"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def _until_done(job: str) -> None:
    while subprocess.run(
        ["squeue", "-h", "-j", job, "-t", "PD,R,CG,CF"], capture_output=True, text=True
    ).stdout.strip():
        time.sleep(0.05)


def _submit_and_status(work: Path) -> bool:
    root = experiment(work / "big", EXPFILE)
    start = time.perf_counter()
    call(EXPMAN, "sweep", "-s", "X=1..1000", "--on", "slurm", "--slurm", "sbatch=--hold", cwd=root)
    submit = time.perf_counter() - start
    held: list[str] = []

    def plain_submit() -> None:
        command = ["sbatch", "--parsable", "--hold", "--array=0-999", "-o", "/dev/null"]
        done = subprocess.run([*command, "--wrap", "true"], capture_output=True, text=True)
        held.append(done.stdout.strip())

    plain = timed(plain_submit, 1)[0]
    # One sbatch takes a few ms (no interpreter, no plan, no record): shown for scale.
    met = absolute(
        "  submit a 1,000-point sweep",
        submit,
        "s",
        1.0,
        f"one sbatch of a 1,000-task array: {plain:.3f} s",
    )
    status = timed(lambda: call(EXPMAN, "sweep", "status", cwd=root), 5)
    squeue = timed(
        lambda: subprocess.run(
            ["squeue", "-h", "-r", "-t", "all"], capture_output=True, check=True
        ),
        5,
    )
    met &= report(
        "  sweep status, 1,000 points in flight",
        median(status),
        "s",
        "squeue -r -t all",
        median(squeue),
        0.5,
    )
    jobs = json.loads((root / "runs" / "sweeps" / "s0001" / "slurm" / "jobs.json").read_text())
    subprocess.run(["scancel", *held, *(j["job_id"] for j in jobs)], check=False)
    return met


def _overhead(work: Path, repeat: int) -> bool:
    root = experiment(work / "small", EXPFILE)
    ours, theirs = [], []
    for trial in range(repeat):
        start = time.perf_counter()
        call(
            EXPMAN,
            "sweep",
            "-s",
            f"X={trial * 10 + 1}..{trial * 10 + 10}",
            "--on",
            "slurm",
            cwd=root,
        )
        sweep_id = f"s{trial + 1:04d}"
        while (
            "10 succeeded"
            not in subprocess.run(
                [EXPMAN, "sweep", "status", sweep_id], cwd=root, capture_output=True, text=True
            ).stdout
        ):
            time.sleep(0.1)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        _until_done(_plain_array(10))
        theirs.append(time.perf_counter() - start)
    return report(
        "  10 trivial runs on Slurm, submit to done",
        median(ours),
        "s",
        "10 plain sbatch --wrap true (an array)",
        median(theirs),
        1.3 * median(theirs),
    )


def main(repeat: int = 3) -> bool:
    """Measure and print; True when every target is met (False without a cluster)."""
    ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, check=False)
    if "UP" not in ping.stdout:
        print(
            "  no Slurm cluster answers: `sudo bash scripts/slurm-cluster start`; nothing measured"
        )
        return False
    with tempfile.TemporaryDirectory() as tmp:
        met = _submit_and_status(Path(tmp))
        met &= _overhead(Path(tmp), repeat)
    return met


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)

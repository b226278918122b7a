"""What measuring a run costs: sampling its processes, capturing its environment.

Each figure against a baseline measured in the same run, in alternating rounds:
- sampling a tree of 50 processes every second: the runner's CPU time per second of
  sampling, at most 1% of one core. Measured two ways: the sampler alone over the real
  tree (CPU time per sample, against the same loop not sampling), and end to end (the CPU
  time of `expman run` of a stage holding 50 processes for 20 s, sampling at 1 s against
  `resources: {sample: false}`).
- the environment capture of an attempt where no probe applies (no conda, no container,
  no NVIDIA driver, no module, no lock file): at most 30 ms added to a run's start, in a
  fresh process (its module imported, as a run imports it), against that process starting
  without it. Where a probe applies and is slow (a conda environment of 300 packages), the
  first capture against the next ones (cached).
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ENV, EXPMAN, absolute, experiment, median, report

TREE = 50  # processes in the sampled tree
# The stage: a shell holding 49 sleeping children, for SECONDS.
HOLD = 'for i in $(seq 49); do sleep "$SECONDS_HELD" & done; wait'
EXPFILE = """\
version: 1
name: sampled
vars: {SECONDS_HELD: 20}
resources: SAMPLING
stages:
  run: {cmd: 'HOLD'}
  fetch: {cmd: "true"}
"""


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _sampler_alone(rounds: int, samples: int) -> bool:
    """CPU seconds of one sample of a real 50-process tree, against the loop idle."""
    from expman.observe import resources

    marker = "EXPMAN_RUN_UID=bench-" + os.urandom(4).hex()
    env = {**os.environ, marker.split("=")[0]: marker.split("=")[1]}
    tree = [subprocess.Popen(["sleep", "600"], env=env) for _ in range(TREE)]
    try:
        sampling: list[float] = []
        idle: list[float] = []
        for _ in range(rounds):  # alternating, so that load hits each alike
            sampler = resources.Sampler(marker)
            sampler.sample()  # the first sample reads every pid's environment once
            start = time.process_time()
            for _ in range(samples):
                values = sampler.sample()
            sampling.append((time.process_time() - start) / samples)
            assert values["sys/processes"] == TREE, values
            start = time.process_time()
            for _ in range(samples):
                pass
            idle.append((time.process_time() - start) / samples)
    finally:
        for process in tree:
            process.kill()
            process.wait()
    processes = sum(1 for path in Path("/proc").iterdir() if path.name.isdigit())
    print(f"  one sample of {TREE} processes ({processes} on the host): CPU time per sample")
    # At one sample a second, CPU seconds per sample are the fraction of one core.
    return absolute(
        "  sampling at 1 s, share of one core",
        100 * median(sampling),
        "%",
        1.0,
        f"the loop without sampling: {100 * median(idle):.4f} %",
    )


def _run_cpu(root: Path, sampling: str, held: int) -> float:
    """CPU seconds of `expman run` (the runner and its stages) with `sampling`, its stage
    holding its processes `held` seconds."""
    (root / "expfile.yaml").write_text(EXPFILE.replace("SAMPLING", sampling).replace("HOLD", HOLD))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    command = [EXPMAN, "run", "-s", f"SECONDS_HELD={held}"]
    subprocess.run(command, cwd=root, capture_output=True, check=True, env=ENV)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([EXPMAN, "end", "-m", "x"], cwd=root, capture_output=True, check=True, env=ENV)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def _end_to_end(work: Path, rounds: int, held: int) -> bool:
    root = experiment(work / "e2e", EXPFILE.replace("SAMPLING", "{}").replace("HOLD", HOLD))
    on: list[float] = []
    off: list[float] = []
    for _ in range(rounds):
        on.append(_run_cpu(root, "{every: 1}", held))
        off.append(_run_cpu(root, "{sample: false}", held))
    added = 100 * (median(on) - median(off)) / held
    print(
        f"  expman run holding {TREE} processes {held} s: {median(on):.3f} CPU s sampling at "
        f"1 s, "
        f"{median(off):.3f} CPU s not sampling"
    )
    return absolute("  end to end, share of one core added", added, "%", 1.0)


CAPTURE = """\
import sys, time
from pathlib import Path
import expman.store.objects, expman.observe.series  # what a run has imported by then
start = time.perf_counter()
if sys.argv[1] == "capture":
    from expman.running import envcapture
    envcapture.capture(Path("."))
print(time.perf_counter() - start)
"""


def _capture_cost(work: Path, rounds: int) -> bool:
    bare = work / "bare"
    bare.mkdir()
    env = {k: v for k, v in ENV.items() if k not in ("CONDA_PREFIX", "LOADEDMODULES")}
    env = {k: v for k, v in env.items() if not k.startswith(("APPTAINER_", "SINGULARITY_"))}

    def seconds(what: str) -> float:
        done = subprocess.run(
            [sys.executable, "-c", CAPTURE, what], cwd=bare, capture_output=True, text=True,
            check=True, env=env,
        )  # fmt: skip
        return float(done.stdout)

    captured: list[float] = []
    skipped: list[float] = []
    for _ in range(rounds):
        captured.append(seconds("capture"))
        skipped.append(seconds("none"))
    container = Path("/.dockerenv").exists() or Path("/run/.containerenv").exists()
    if container:
        print("  (this machine is a container: its probe applies, and is counted)")
    return absolute(
        "  environment capture, no probe applying: added to a run's start",
        1000 * (median(captured) - median(skipped)),
        "ms",
        30.0,
    )


def _conda_cache(work: Path, rounds: int) -> None:
    """A conda environment of 300 packages: the first capture, then the cached ones."""
    from expman.running import envcapture

    prefix = work / "conda"
    meta = prefix / "conda-meta"
    meta.mkdir(parents=True)
    for i in range(300):
        file = f"package{i}-1.{i}-h0_0.conda"
        files = [f"lib/python3.12/site-packages/package{i}/module{j}.py" for j in range(300)]
        record: dict[str, object] = {"name": f"package{i}", "url": f"https://c/{file}"}
        record.update(md5=hashlib.md5(file.encode()).hexdigest(), files=files)
        (meta / f"package{i}-1.{i}-h0_0.json").write_text(json.dumps(record))
    (meta / "history").write_text("==> 2026-12-01 <==\n")
    env = {"CONDA_PREFIX": str(prefix)}
    first: list[float] = []
    cached: list[float] = []
    for _ in range(rounds):
        cache = work / "cache"
        os.environ["XDG_CACHE_HOME"] = str(cache)
        for kept in cache.glob("expman/conda/*"):
            kept.unlink()
        start = time.perf_counter()
        envcapture.capture(work, env=env)
        first.append(time.perf_counter() - start)
        start = time.perf_counter()
        envcapture.capture(work, env=env)
        cached.append(time.perf_counter() - start)
    report(
        "  conda, 300 packages: capture once cached",
        1000 * median(cached),
        "ms",
        "the first capture (records read)",
        1000 * median(first),
    )


def main(rounds: int = 3, held: int = 20) -> bool:
    """Every figure of this module; True when each target is met. `held`: the seconds the
    end-to-end run's stage holds its processes (`python -m bench --quick`: 6)."""
    print(f"  load average: {_load()}")
    cache = os.environ.get("XDG_CACHE_HOME")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        try:
            met = _sampler_alone(rounds, 50)
            met &= _capture_cost(work, rounds * 3)
            _conda_cache(work, rounds)
            met &= _end_to_end(work, rounds, held)
        finally:
            if cache is None:
                os.environ.pop("XDG_CACHE_HOME", None)
            else:
                os.environ["XDG_CACHE_HOME"] = cache
    print(f"  load average: {_load()}")
    return met


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)

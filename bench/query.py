"""Query: the same selection over 10,000 and 100,000 archived runs, against `jq -s`.

The archive is made of real records: a few real runs, copied into N run folders with
varied ids, vars and metrics, written as expman writes them. Measured end to end from
the command line: `expman query` with its record cache warm (and the first, cold query
that builds it), and `jq -s` over the same run.json files. Targets: 10,000 runs under
0.25 s, 100,000 under 1.5 s (medians).
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.common import ENV, EXPMAN, call, experiment, median, report, timed

SELECTION = "[?metrics.acc > `0.9` && vars.lr < `0.01`].id"
JQ = "[.[] | select(.metrics.acc > 0.9 and .vars.lr < 0.01) | .id]"
EXPFILE = """\
version: 1
name: query
vars: {lr: 0.01}
stages:
  run: {cmd: "true"}
  fetch: {cmd: "echo '{\\"acc\\": 0.5}' > $EXPMAN_OUTPUTS/metrics.json"}
metrics: outputs/metrics.json
"""


def _archive(root: Path, runs: int) -> Path:
    """An archive of `runs` records, cloned from real ones."""
    source = experiment(root / "source", EXPFILE)
    for _ in range(3):
        call(EXPMAN, "run", cwd=source)
        call(EXPMAN, "end", "-m", "real", cwd=source)
    real = [json.loads(p.read_text()) for p in sorted((source / "runs").glob("*/run.json"))]
    archive = root / "runs"
    archive.mkdir()
    chance = random.Random(0)
    for number in range(1, runs + 1):
        record = dict(real[number % len(real)])
        record["id"] = f"{number:04d}"
        record["uid"] = f"{number:032x}"
        record["vars"] = {"lr": chance.choice([0.001, 0.005, 0.01, 0.05])}
        record["metrics"] = {"acc": round(chance.random(), 4), "loss": round(chance.random(), 4)}
        folder = archive / record["id"]
        folder.mkdir()
        (folder / "run.json").write_text(json.dumps(record, indent=2) + "\n")
    return archive


def _jq(archive: Path) -> bytes:
    files = subprocess.Popen(
        ["find", str(archive), "-mindepth", "2", "-maxdepth", "2", "-name", "run.json", "-print0"],
        stdout=subprocess.PIPE,
    )
    # Oldest first, as expman answers: run folders sorted by number (find lists them in
    # directory order, which is not sorted).
    field = len(archive.parts) + 1  # the NNNN of /a/b/archive/NNNN/run.json, split on "/"
    ordered = subprocess.Popen(
        ["sort", "-z", "-t/", f"-k{field},{field}n"], stdin=files.stdout, stdout=subprocess.PIPE
    )
    cat = subprocess.Popen(["xargs", "-0", "cat"], stdin=ordered.stdout, stdout=subprocess.PIPE)
    result = subprocess.run(
        ["jq", "-c", "-s", JQ], stdin=cat.stdout, capture_output=True, check=True
    )
    return result.stdout


def _expman(archive: Path) -> bytes:
    command = [EXPMAN, "query", "--archive", str(archive), SELECTION]
    return subprocess.run(command, capture_output=True, check=True, env=ENV).stdout


def main(sizes: tuple[int, ...] = (10_000, 100_000), repeat: int = 5) -> bool:
    """Measure and print; True when every target is met."""
    if shutil.which("jq") is None:
        raise SystemExit("the query benchmark compares with jq: install it (apt-get install jq)")
    targets = {10_000: 0.25, 100_000: 1.5}
    met = True
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            archive = _archive(Path(tmp), size)
            cold = timed(lambda: _expman(archive), 1)[0]  # noqa: B023 - called at once
            ours = json.loads(_expman(archive))
            assert ours == json.loads(_jq(archive)), "expman and jq disagree"
            warm = timed(lambda: _expman(archive), repeat)  # noqa: B023
            jq = timed(lambda: _jq(archive), repeat)  # noqa: B023
            print(
                f"  {size:,} runs, {len(ours)} selected; first query (builds the cache) "
                f"{cold:.3f} s"
            )
            met &= report(
                f"expman query, {size:,} runs",
                median(warm),
                "s",
                "jq -s",
                median(jq),
                target=targets.get(size),
            )
    return met


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)

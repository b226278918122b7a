"""Kill harness for sweeps: the sweep process killed at random moments (SIGKILL, SIGTERM,
SIGINT), then checked: every record parses and validates; no run is left running; no
point process survives; no point ever has two succeeded runs; and resuming until done
leaves every point with exactly one succeeded run and no workspace behind.
EXPMAN_SWEEP_KILL_TRIALS sets the number (default 12), EXPMAN_KILL_SEED the seed.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from expman.store.record import SCHEMA_PATH
from tests.conftest import git, points_alive

BIN = Path(sys.executable).parent
TRIALS = int(os.environ.get("EXPMAN_SWEEP_KILL_TRIALS", "12"))
POINTS = 8

EXPFILE = """\
version: 1
name: killed-sweeps
vars: {STEP: 1, PAUSE: 0.1}
stages:
  pre-run:
    - name: prep
      cmd: mkdir -p data; echo ready > data/ready.txt
      export: []
      targets: [data/ready.txt]
  run:
    cmd: sleep $PAUSE; echo $STEP > result.txt
  fetch: {cmd: "cp result.txt \\"$EXPMAN_OUTPUTS\\"/"}
"""


def _settle(root: Path) -> None:
    deadline = time.monotonic() + 60
    while points_alive(root):
        assert time.monotonic() < deadline, "a point process outlived its sweep"
        time.sleep(0.05)


def _records(root: Path, schema: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for path in sorted((root / "runs").glob("[0-9]*/run.json")):
        record = json.loads(path.read_text())
        jsonschema.validate(record, schema)
        found.append(record)
    return found


@pytest.mark.slow
def test_sweeps_killed_at_random_moments(tmp_path: Path) -> None:
    seed = int(os.environ.get("EXPMAN_KILL_SEED", str(int(time.time()))))
    print(f"sweep kill harness: {TRIALS} trials, EXPMAN_KILL_SEED={seed}")
    chance = random.Random(seed)
    root = tmp_path / "sweeps"
    root.mkdir()
    (root / "expfile.yaml").write_text(EXPFILE)
    (root / ".gitignore").write_text("/.expman/\n/outputs/\n/runs/\n/data/\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "start")
    schema = json.loads(SCHEMA_PATH.read_text())
    seen: Counter[str] = Counter()
    first = [str(BIN / "expman"), "sweep", "-s", f"STEP=1..{POINTS}", "-s", "PAUSE=0.3,0.1,0.05"]
    resume = [str(BIN / "expman"), "sweep", "--resume", "s0001"]
    created = root / "runs" / "sweeps" / "s0001" / "sweep.json"
    for trial in range(TRIALS):
        # A kill before the sweep was created leaves nothing to resume: start it again.
        command = resume if created.exists() else first
        sig = chance.choice((signal.SIGKILL, signal.SIGTERM, signal.SIGINT))
        sweep = subprocess.Popen(
            [*command, "--jobs", "2"],
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        time.sleep(chance.uniform(0.2, 1.5))
        sweep.send_signal(sig)
        sweep.wait(timeout=60)
        _settle(root)
        records = _records(root, schema)
        assert all(r["status"] != "running" for r in records), f"trial {trial}, seed {seed}"
        assert all(r["ended"] for r in records), "every point ends its run, killed or not"
        succeeded = Counter(r["sweep"]["index"] for r in records if r["status"] == "succeeded")
        assert all(n == 1 for n in succeeded.values()), f"a point ran twice: {succeeded}"
        seen[signal.Signals(sig).name] += 1
        seen["points done"] = len(succeeded)
    for _ in range(5):
        if (
            subprocess.run(
                [*(resume if created.exists() else first), "--jobs", "2"],
                cwd=root,
                capture_output=True,
            ).returncode
            == 0
        ):
            break
    records = _records(root, schema)
    succeeded = Counter(r["sweep"]["index"] for r in records if r["status"] == "succeeded")
    assert succeeded == Counter(range(POINTS * 3)), "every point once"
    left = [p.name for p in (root / ".expman" / "workspaces").iterdir()]
    assert [name for name in left if not name.startswith("prerun-")] == []
    print(f"{TRIALS} trials: {dict(seen)}")

"""The experiment the adaptive search's tests search: a bowl whose minimum is at X=0.3,
Y=2 (`loss`), with a pause to hold a trial in flight; and `expman` run in it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent

EXPFILE = """\
version: 1
name: bowl
vars: {X: 0.0, Y: 0, PAUSE: 0}
stages:
  run:
    cmd: python3 bowl.py
  fetch: {cmd: "cp result.json \\"$EXPMAN_OUTPUTS\\"/"}
metrics: outputs/result.json
"""
BOWL = """\
import json, os, time
x, y = float(os.environ["X"]), int(os.environ["Y"])
time.sleep(float(os.environ["PAUSE"]))
json.dump({"loss": (x - 0.3) ** 2 + (y - 2) ** 2, "size": x + y}, open("result.json", "w"))
"""
SEARCH = ["-s", "X=uniform(-1,1)", "-s", "Y=int(0,4)", "--search", "tpe"]


def expman(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`expman ARGS` run in `root`, as a user runs it."""
    return subprocess.run(
        [str(BIN / "expman"), *args], cwd=root, capture_output=True, text=True, timeout=600
    )

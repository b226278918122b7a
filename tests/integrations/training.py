"""Training scripts run for real, in a run and outside one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tests.conftest import RunCli, records

REPORT = """
if len(sys.argv) > 1 and WHEN:
    os.makedirs(os.path.dirname(sys.argv[1]), exist_ok=True)
    with open(sys.argv[1], "w") as f:
        json.dump(REPORTED, f)
"""


def reporting(reported: str, when: str = "True") -> str:
    """The end of a training script: write `reported` (an expression) to the file named by
    its first argument, if it has one and `when` (an expression) holds."""
    return REPORT.replace("REPORTED", reported).replace("WHEN", when)


EXPFILE = """\
version: 1
name: NAME
stages:
  run: {cmd: PYTHON train.py outputs/reported.json}
  fetch: {cmd: "true"}
"""


def run_in_expman(
    experiment: Callable[..., Path], run_cli: RunCli, script: str
) -> tuple[dict[str, Any], list[dict[str, Any]], Any]:
    """Run `script` as a run's stage, its argument the file to write what was reported to:
    (the record's series summary, the points of its series file, what was reported)."""
    expfile = EXPFILE.replace("NAME", "train").replace("PYTHON", sys.executable)
    root = experiment(expfile, **{"train.py": script})
    code, _, err = run_cli("run")
    assert code == 0, err
    reported = json.loads((root / "outputs" / "reported.json").read_text())
    record = records(root)[-1]
    lines = (root / "runs" / record["id"] / "series.jsonl").read_text().splitlines()
    return record["series"], [json.loads(line) for line in lines], reported


def run_outside(tmp_path: Path, script: str, env: Mapping[str, str] | None = None) -> str:
    """Run `script` by hand in an empty folder (no expman around it): its stderr. The script
    must leave the folder empty and succeed."""
    folder = tmp_path / "by-hand"
    folder.mkdir()
    (tmp_path / "train.py").write_text(script)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("EXPMAN_")}
    done = subprocess.run(
        [sys.executable, str(tmp_path / "train.py")],
        cwd=folder,
        env={**environment, **(env or {})},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in folder.iterdir()) == []
    return done.stderr

"""A power cut in the middle of a sweep's point: only what was synced survives.

A point syncs its run's record when the run is made (with the notes that find the open
run: the archive's marker and the workspace's) and when it ends; the writes between (the
attempt begun, a step's pid, a step done, the attempt finished) and the sweep's notes of
the point are not synced. The test runs a real sweep whose every atomic write is
logged (a `sitecustomize` in the sweep's interpreter: the writes themselves are
expman's own), kills the sweep and its point with SIGKILL while a stage runs, then puts
back every file that was last written without a sync as the disk may have kept it: the
content of its last synced write, or no file at all. The resume must then tell the
truth: the run ended `interrupted`, the point run again to success, exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from expman.store.record import SCHEMA_PATH
from tests.conftest import records
from tests.sweeps.test_sweep import _at_the_gate, _expman, sweepable  # noqa: F401

BIN = Path(sys.executable).parent
SPY = """\
import json, os, time

from expman import fsutil

_write = fsutil.write_atomic


def write_atomic(path, data, mode=0o644, sync=True):
    _write(path, data, mode, sync)
    entry = {"path": str(path), "sync": sync, "data": data.decode("utf-8")}
    name = f"{time.monotonic_ns():020d}-{os.getpid()}.json"
    with open(os.path.join(os.environ["WRITES_LOG"], name), "w") as f:
        json.dump(entry, f)


fsutil.write_atomic = write_atomic
"""


def _writes(log: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(log.iterdir())]


def _target(root: Path, entry: dict[str, Any]) -> Path:
    """The file a write lands in for good: a new run's record is written in a staging
    folder that is then renamed to the run's id."""
    path = Path(entry["path"])
    if path.name == "run.json":
        run_id: str = json.loads(entry["data"])["id"]
        return root / "runs" / run_id / "run.json"
    return path


def _cut_power(root: Path, log: Path) -> list[Path]:
    """Put every file whose last write was not synced back to its last synced content
    (or remove it); the files put back."""
    history: dict[Path, list[dict[str, Any]]] = {}
    for entry in _writes(log):
        history.setdefault(_target(root, entry), []).append(entry)
    put_back = []
    for path, writes in history.items():
        if writes[-1]["sync"]:
            continue
        synced = [w for w in writes if w["sync"]]
        if synced:
            path.write_text(synced[-1]["data"])
        else:
            path.unlink(missing_ok=True)
        put_back.append(path)
    return put_back


@pytest.mark.slow
def test_a_power_cut_while_a_point_runs_leaves_no_record_that_lies(
    sweepable: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    spy, log, gate = tmp_path / "spy", tmp_path / "writes", tmp_path / "gate"
    spy.mkdir()
    log.mkdir()
    (spy / "sitecustomize.py").write_text(SPY)
    env = {**os.environ, "PYTHONPATH": str(spy), "WRITES_LOG": str(log)}
    sweep = subprocess.Popen(
        [str(BIN / "expman"), "sweep", "-s", "STEP=1..2", "-s", f"GATE={gate}"],
        cwd=sweepable,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _at_the_gate(tmp_path, 1)
    children = subprocess.run(
        ["pgrep", "-P", str(sweep.pid)], capture_output=True, text=True
    ).stdout.split()
    for pid in [sweep.pid, *map(int, children)]:
        os.kill(pid, signal.SIGKILL)
    sweep.wait(timeout=30)
    assert _writes(log), "the spy saw no write"
    killed = records(sweepable)
    assert [r["status"] for r in killed] == ["running"]
    put_back = _cut_power(sweepable, log)
    record = sweepable / "runs" / killed[0]["id"] / "run.json"
    assert record in put_back  # the state the point last wrote was not synced
    result = sweepable / "runs" / "sweeps" / "s0001" / "results" / "0.json"
    assert result in put_back and not result.exists()  # the sweep's note of it: lost
    after_cut = json.loads(record.read_text())
    assert after_cut["attempts"] == []  # as the run was made: no attempt begun

    gate.touch()
    resumed = _expman(sweepable, "sweep", "--resume", "s0001")
    assert resumed.returncode == 0, resumed.stderr
    schema = json.loads(SCHEMA_PATH.read_text())
    runs = records(sweepable)
    for run in runs:
        jsonschema.validate(run, schema)
    assert [r["status"] for r in runs] == ["interrupted", "succeeded", "succeeded"]
    assert sorted(r["sweep"]["index"] for r in runs if r["status"] == "succeeded") == [0, 1]
    assert not (sweepable / ".expman" / "workspaces").exists() or not any(
        (sweepable / ".expman" / "workspaces").iterdir()
    )

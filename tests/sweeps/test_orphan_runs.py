"""A point killed outright (SIGKILL: `scancel -s KILL`, the OOM killer) between making
its run and opening it leaves a run `started` that no one will ever run nor end: the
sweep ends it, once no live process holds the point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from expman import processes
from expman.expfile import loading
from expman.store import record
from expman.store.archive import Archive
from expman.sweeps.store import CLAIMS, Sweeps
from tests.conftest import records

BIN = Path(sys.executable).parent
EXPFILE = """\
version: 1
name: orphans
vars: {X: 0}
stages:
  run: {cmd: "true"}
  fetch: {cmd: "true"}
"""


def _left_started(root: Path, index: int, holder: dict[str, Any] | None) -> str:
    """A run of point `index` as a point killed right after making it leaves it (made,
    never opened), and its claim left by `holder` (None: released)."""
    archive = Archive(root / "runs")
    point = Sweeps(archive).point("s0001", index)
    config = loading.load(root / "expfile.yaml", "expfile.yaml")
    sweep: record.Sweep = {"id": "s0001", "index": index, "point": point.hash}
    run_id = archive.create({**record.new(config, None), "sweep": sweep})
    if holder is not None:
        (archive.root / "sweeps" / "s0001" / CLAIMS / str(index)).write_text(json.dumps(holder))
    return run_id


@pytest.mark.slow
def test_a_run_a_killed_point_left_started_is_ended_once_no_one_holds_its_point(
    experiment: Callable[..., Path],
) -> None:
    root = experiment(EXPFILE)
    done = subprocess.run(
        [str(BIN / "expman"), "sweep", "-s", "X=1,2,3"], cwd=root, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    dead = subprocess.Popen(["true"])  # a process that has ended: its pid
    dead.wait()
    orphan = _left_started(root, 0, {"host": os.uname().nodename, "pid": dead.pid})
    released = _left_started(root, 1, None)
    me = os.getpid()
    alive = {"host": os.uname().nodename, "pid": me, "start_ticks": processes.start_time(me)}
    held = _left_started(root, 2, alive)  # its point is held: its maker may be opening it

    status = subprocess.run(
        [str(BIN / "expman"), "sweep", "status"], cwd=root, capture_output=True, text=True
    )
    assert status.returncode == 0, status.stderr
    by_id = {r["id"]: r for r in records(root)}
    for run_id in (orphan, released):
        assert by_id[run_id]["status"] == "interrupted" and by_id[run_id]["ended"], run_id
    assert by_id[held]["status"] == "started" and by_id[held]["ended"] is None
    assert "3 succeeded" in status.stdout, "a point's succeeded run still counts"

    (root / "runs" / "sweeps" / "s0001" / CLAIMS / "2").unlink()  # its maker let go
    resumed = subprocess.run(
        [str(BIN / "expman"), "sweep", "--resume", "s0001"], cwd=root, capture_output=True
    )
    assert resumed.returncode == 0, resumed.stderr
    assert all(r["ended"] for r in records(root)), "no run is left started"
    assert len(records(root)) == 6, "no point ran again"

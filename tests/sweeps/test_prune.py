"""The pruner's reading of what the trials reported: incremental (a file read again only
when it changed), bounded, and as untrusted as every file of the archive."""

from __future__ import annotations

import json
import os
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from expman.store import objects
from expman.store.archive import Archive
from expman.sweeps import plan, search_definition
from expman.sweeps.plan import Point
from expman.sweeps.prune import Judge
from expman.sweeps.store import INTERMEDIATE, MAX_REPORT_BYTES, Sweeps
from tests.conftest import records, required

optuna = required("optuna", "adaptive search needs Optuna: expman[search]")

REPORT = {"steps": [1, 2, 3], "values": [0.5, 0.4, 0.3], "attrs": {"r": 1}}
EMPTY: dict[str, Any] = {"steps": [], "values": [], "attrs": {}}


def _sweep(root: Path) -> Sweeps:
    archive = Archive(root / "runs")
    wanted = search_definition.search_of("random", 5, ["series.loss.last"], [], 1)
    definition = plan.Definition((plan.parse_spec("X", "uniform(0,1)"),), search=wanted.as_data())
    sweeps = Sweeps(archive)
    sweeps.create({"definition": definition.as_data(), "graph": "g"}, [])
    return sweeps


def test_a_report_is_read_again_only_when_its_file_changed(tmp_path: Path) -> None:
    sweeps = _sweep(tmp_path)
    sweeps.report("s0001", 0, REPORT)
    signature, data = sweeps.reread_intermediate("s0001", 0, None)
    assert data == REPORT and signature is not None
    assert sweeps.reread_intermediate("s0001", 0, signature) == (signature, None), "unchanged"
    changed = {**REPORT, "values": [0.5, 0.4, 0.2]}
    sweeps.report("s0001", 0, changed)  # replaced atomically: another inode
    signature, data = sweeps.reread_intermediate("s0001", 0, signature)
    assert data == changed
    path = sweeps.folder("s0001") / INTERMEDIATE / "0.json"
    same_size = path.read_bytes().replace(b"0.2]", b"0.1]")
    with path.open("r+b") as f:  # rewritten in place, same size: its mtime says so
        f.write(same_size)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert sweeps.reread_intermediate("s0001", 0, signature)[1] == {
        **REPORT,
        "values": [0.5, 0.4, 0.1],
    }
    path.unlink()
    assert sweeps.reread_intermediate("s0001", 0, signature) == (None, EMPTY)


def test_a_hostile_report_is_no_report_and_never_followed_nor_read_whole(
    tmp_path: Path,
) -> None:
    sweeps = _sweep(tmp_path)
    folder = sweeps.folder("s0001") / INTERMEDIATE
    folder.mkdir()
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps(REPORT))
    (folder / "0.json").symlink_to(elsewhere)  # a link: never followed
    os.mkfifo(folder / "1.json")  # a pipe: never waited on
    (folder / "2.json").mkdir()
    with (folder / "3.json").open("wb") as f:  # 4 GB, sparse: never read whole
        f.truncate(4 << 30)
    (folder / "4.json").write_bytes(b"[" * 100_000 + b"]" * 100_000)  # too deep
    (folder / "5.json").write_bytes(b"\xff\xfe garbage")
    huge = {"steps": list(range(200_000)), "values": [0.5] * 200_000, "attrs": {}}
    (folder / "6.json").write_text(json.dumps(huge))  # past MAX_REPORT_BYTES
    assert (folder / "6.json").stat().st_size > MAX_REPORT_BYTES
    result: dict[int, Any] = {}

    def read_all() -> None:
        for index in range(7):
            result[index] = sweeps.reread_intermediate("s0001", index, None)

    tracemalloc.start()
    reader = threading.Thread(target=read_all, daemon=True)
    reader.start()
    reader.join(timeout=30)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert not reader.is_alive(), "a report blocked its reader (a pipe opened?)"
    assert all(data == EMPTY for _, data in result.values()), result
    assert all(signature is not None for signature, _ in result.values())
    assert peak < 8 * MAX_REPORT_BYTES, f"{peak} bytes held to read the reports"
    assert sweeps.intermediate("s0001", 0) == EMPTY


CURVES = """\
version: 1
name: judged
vars: {X: 0.0}
stages:
  run: {cmd: python3 train.py}
  fetch: {cmd: "true"}
"""
TRAIN = """\
import json, os
x = float(os.environ["X"])
with open(os.environ["EXPMAN_METRICS"], "a") as f:
    for step in range(1, 11):
        f.write(json.dumps({"step": step, "loss": x + 1.0 / step}) + "\\n")
"""


@pytest.mark.slow
def test_a_kept_judge_decides_as_one_built_afresh_and_reads_only_what_changed(
    experiment: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A watcher keeps its judge between checks: it reads a trial's report again only
    when its file changed, and decides what a judge built afresh from the files
    (what every check did before) decides, whatever changed in between."""
    from tests.slurm.conftest import expman

    root = experiment(CURVES, **{"train.py": TRAIN})
    args = ["-s", "X=uniform(0,1)", "--search", "random", "--trials", "6"]
    args += ["--objective", "series.loss.last", "--prune", "median", "--prune-metric", "loss"]
    done = expman(root, "sweep", *args, "--jobs", "2")
    assert done.returncode == 0, done.stderr
    assert len(records(root)) == 6
    archive = Archive(root / "runs")
    sweeps = Sweeps(archive)
    point = Point(6, {"X": 0.8}, "h", None)  # the next trial: worse than most
    opened: list[str] = []
    open_below = objects.open_below

    def counted(folder: Path | str, relative: str) -> int:
        opened.append(relative)
        return open_below(folder, relative)

    monkeypatch.setattr(objects, "open_below", counted)
    kept, verdicts = Judge(archive, "s0001", point), []
    for step in range(1, 11):
        reported = {s: 0.8 + 1.0 / s for s in range(1, step + 1)}
        if step == 5:  # every earlier trial did far worse: the trial goes on
            for index in range(6):
                sweeps.report("s0001", index, {"steps": [1, 5], "values": [9.0, 9.0]})
        opened.clear()
        mine = kept.decide(reported, {})
        if step in (2, 3, 4, 6, 7):
            assert opened == [], f"step {step}: unchanged reports were read again"
        fresh = Judge(archive, "s0001", point).decide(reported, {})
        assert mine == fresh, f"step {step}"
        verdicts.append(mine[0] is not None)
    assert verdicts[:4] == [True] * 4 and verdicts[4:] == [False] * 6, verdicts

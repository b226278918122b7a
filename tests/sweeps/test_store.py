"""Sweeps as files: ids, plans that only grow, and claims that two resumes never share."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import time
from pathlib import Path

import pytest

from expman.errors import ArchiveError, UsageError
from expman.store.archive import Archive
from expman.sweeps.plan import Definition, Point, parse_spec, points
from expman.sweeps.store import Claims, Sweeps


def _random(samples: int, seed: int = 7) -> list[Point]:
    spec = parse_spec("LR", "loguniform(1e-4, 1e-1)")
    return points(Definition(specs=(spec,), samples=samples, seed=seed), "graph")


def test_sweeps_get_ids_and_keep_their_plan(tmp_path: Path) -> None:
    sweeps = Sweeps(Archive(tmp_path / "runs"))
    first = sweeps.create({"hypothesis": "lr matters", "graph": "graph"}, _random(3))
    second = sweeps.create({"hypothesis": "again", "graph": "graph"}, _random(2))
    assert (first, second) == ("s0001", "s0002")
    assert sweeps.ids() == ["s0001", "s0002"]
    assert sweeps.read("s0001")["hypothesis"] == "lr matters"
    assert [p.vars for p in sweeps.plan("s0001")] == [p.vars for p in _random(3)]
    assert sweeps.resolve("last") == "s0002" and sweeps.resolve("1") == "s0001"
    assert Archive(tmp_path / "runs").ids() == [], "sweeps are not runs"


def test_a_plan_grows_but_never_changes(tmp_path: Path) -> None:
    sweeps = Sweeps(Archive(tmp_path / "runs"))
    sweep = sweeps.create({"graph": "graph"}, _random(20))
    assert sweeps.extend(sweep, _random(40)) == 20
    assert [p.hash for p in sweeps.plan(sweep)] == [p.hash for p in _random(40)]
    with pytest.raises(UsageError, match="does not begin with the sweep's 40 points"):
        sweeps.extend(sweep, _random(50, seed=8))
    with pytest.raises(
        UsageError, match="10 points asked, but the sweep has 40 points: a plan only grows"
    ):
        sweeps.extend(sweep, _random(10))


def _claimer(folder: str, results: multiprocessing.Queue, done: object) -> None:  # type: ignore[type-arg]
    claims = Claims(Path(folder))
    results.put([i for i in range(50) if claims.take(i)])
    done.wait(60)  # type: ignore[attr-defined]  # a holder lives while it runs its points


@pytest.mark.slow
def test_concurrent_claims_never_share_a_point(tmp_path: Path) -> None:
    folder = tmp_path / "claims"
    folder.mkdir()
    spawn = multiprocessing.get_context("spawn")
    results, done = spawn.Queue(), spawn.Event()
    workers = [spawn.Process(target=_claimer, args=(str(folder), results, done)) for _ in range(6)]
    for worker in workers:
        worker.start()
    taken = [index for _ in workers for index in results.get(timeout=60)]
    done.set()
    for worker in workers:
        worker.join(timeout=60)
    assert sorted(taken) == list(range(50)), "every point once, none twice"


def test_a_claim_of_a_dead_holder_is_taken_over_a_live_ones_is_not(tmp_path: Path) -> None:
    folder = tmp_path / "claims"
    folder.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    live = subprocess.Popen(["sleep", "30"])
    try:
        claims = Claims(folder)
        host = os.uname().nodename
        assert claims.take(0, {"host": host, "pid": dead.pid})
        assert claims.take(1, {"host": host, "pid": live.pid})
        assert claims.take(2, {"host": "another-host", "pid": 1})
        assert claims.take(0), "its holder is dead: taken over"
        assert not claims.take(1), "its holder lives"
        assert not claims.take(2), "only its own host can tell"
        assert dict(claims.held())[0]["pid"] == os.getpid()
        (folder / "3").write_text("")  # a writer that died before it wrote its name
        assert not claims.take(3)
        past = time.time() - 60
        os.utime(folder / "3", (past, past))
        assert claims.take(3)
        claims.release(1)
        assert claims.take(1)
    finally:
        live.kill()
        live.wait()


def test_a_point_is_read_alone_as_the_plan_has_it(tmp_path: Path) -> None:
    sweeps = Sweeps(Archive(tmp_path / "runs"))
    plan = points(Definition(specs=(parse_spec("N", "1..30"),)), "graph")
    sweep_id = sweeps.create({"hypothesis": "h", "graph": "graph"}, plan)
    whole = sweeps.plan(sweep_id)
    assert [sweeps.point(sweep_id, i) for i in range(30)] == whole
    with pytest.raises(ArchiveError, match="has no point 30"):
        sweeps.point(sweep_id, 30)
    path = sweeps.folder(sweep_id) / "plan.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[:5], "{damaged", *lines[6:]]) + "\n")
    assert sweeps.point(sweep_id, 4) == whole[4]
    with pytest.raises(ArchiveError, match=r"plan.jsonl:6: damaged plan line"):
        sweeps.point(sweep_id, 5)

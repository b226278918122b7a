"""The benchmarks' own helpers, run small: `python -m bench` runs in no CI job (it takes
minutes and measures the machine), so a change that breaks one is caught here instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import python, sweep
from expman.store import index
from expman.store.archive import Archive
from tests.conftest import age
from tests.records import fake_record


@pytest.mark.slow
def test_the_resume_benchmark_runs(tmp_path: Path) -> None:
    """It made its sweep without the stage graph a plan is read against, and crashed."""
    assert isinstance(sweep._resume(tmp_path), bool)


def test_the_read_api_benchmark_forgets_cache_segments_only(tmp_path: Path) -> None:
    """It took the cache's listing of run ids (a file) for a segment, and crashed."""
    archive = Archive(tmp_path / "runs")
    for _ in range(3):
        age(archive.run_dir(archive.create(fake_record())) / "run.json")
    age(archive.root)  # its listing, cached too
    index.load(archive, {"status"})
    cache = next((archive.root / ".cache").iterdir())
    assert [p for p in cache.iterdir() if p.is_dir()], "a segment is cached"
    (cache / "ids.marshal").touch(exist_ok=True)  # the listing of run ids, when cached
    python._forget_newest(archive.root, 1)
    assert not [p for p in cache.iterdir() if p.is_dir()], "the newest segment is gone"
    assert [p for p in cache.iterdir() if p.is_file()], "and nothing else"

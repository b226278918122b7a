"""The report's search view: an adaptive search's best so far, and a Pareto search's
front, in real Chromium, from a real archive of two searches."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from expman.report import data
from expman.store.archive import Archive
from tests.conftest import git, records, required
from tests.report.conftest import expman

required("optuna", "adaptive search needs Optuna: expman[search]")
pytestmark = pytest.mark.slow

EXPFILE = """\
version: 1
name: searched
vars: {X: 0.0}
stages:
  run: {cmd: python3 value.py}
  fetch: {cmd: "cp result.json \\"$EXPMAN_OUTPUTS\\"/"}
metrics: outputs/result.json
"""
VALUE = """\
import json, os

x = float(os.environ["X"])
json.dump({"loss": (x - 0.3) ** 2, "size": x}, open("result.json", "w"))
"""


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("searched") / "exp"
    root.mkdir()
    (root / "expfile.yaml").write_text(EXPFILE)
    (root / "value.py").write_text(VALUE)
    (root / ".gitignore").write_text("/.expman/\n/outputs/\n/runs/\n/*.html\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "start")
    common = ["sweep", "-s", "X=uniform(0,1)", "--trials", "5", "--objective", "metrics.loss"]
    expman(root, *common, "--search", "random")
    expman(root, *common, "--search", "nsga2", "--objective", "metrics.size")
    expman(root, "report", "-o", "report.html")
    return root


def test_the_reports_data_holds_each_searchs_trials_and_best(searched: Path) -> None:
    found = data.gather(Archive(searched / "runs"), None, searched)["searches"]
    assert set(found) == {"s0001", "s0002"}
    runs = records(searched)
    one = {r["sweep"]["index"]: r["metrics"]["loss"] for r in runs if r["sweep"]["id"] == "s0001"}
    assert [t["index"] for t in found["s0001"]["trials"]] == list(range(5))
    best = min(one, key=lambda i: one[i])
    assert found["s0001"]["front"] == [best]
    assert found["s0002"]["objectives"] == ["metrics.loss", "metrics.size"]
    assert found["s0002"]["front"], "a Pareto front"


@pytest.fixture
def page(browser: Any, searched: Path) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1300, "height": 800})
    opened = context.new_page()
    problems: list[str] = []

    def said(message: Any) -> None:
        if message.type in ("error", "warning"):
            problems.append(message.text)

    opened.on("console", said)
    opened.on("pageerror", lambda e: problems.append(str(e)))
    opened.goto((searched / "report.html").as_uri())
    opened.wait_for_selector("body[data-ready='1']")
    opened.click("nav button[data-tab=search]")
    opened.wait_for_selector("section#search:not([hidden])")
    yield opened
    assert problems == []
    context.close()


def test_the_search_view_draws_the_best_so_far_and_the_front(page: Any, searched: Path) -> None:
    found = data.gather(Archive(searched / "runs"), None, searched)["searches"]
    page.select_option("#search-sweep", "s0001")
    drawn = page.evaluate("() => window.expmanReport.charts.search.data")
    trials = found["s0001"]["trials"]
    values = [t["values"][0] for t in trials]
    assert drawn[0] == [t["index"] for t in trials]
    assert drawn[1] == values
    assert drawn[2] == [min(values[: i + 1]) for i in range(len(values))], "best so far"
    rows = page.locator("#search-front tbody tr")
    assert rows.count() == 1 and rows.first.locator("td").first.inner_text() == str(
        found["s0001"]["front"][0]
    )
    page.select_option("#search-sweep", "s0002")
    drawn = page.evaluate("() => window.expmanReport.charts.search.data")
    front = [t for t in found["s0002"]["trials"] if t["index"] in found["s0002"]["front"]]
    assert sorted(v for v in drawn[2] if v is not None) == sorted(t["values"][1] for t in front)
    assert page.locator("#search-front tbody tr").count() == len(front)
    assert "5 trials, 0 pruned" in page.inner_text("#search-count")
    assert json.loads(page.evaluate("() => JSON.stringify(window.expmanReport.state.search)")) == {
        "sweep": "s0002"
    }

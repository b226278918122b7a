"""The report opened in a real Chromium: no errors, no requests, and every view works.

Screenshots of each view are written for a person to look at: into `$EXPMAN_SCREENSHOTS`
when set, else beside the test's report (the path is printed).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from expman.report.data import gather
from expman.report.page import render
from expman.store.archive import Archive
from tests.report.conftest import expman

VIEWS = ("runs", "scatter", "parallel", "heatmap", "curves", "diff", "run")


@pytest.fixture
def page(browser: Any, study: Path) -> Any:
    """The study's report, open; console errors and requests are kept on it."""
    expman(study, "report", "-o", "report.html")
    context = browser.new_context(viewport={"width": 1300, "height": 800})
    opened = context.new_page()
    opened.problems = []
    opened.requests = []
    opened.on(
        "console", lambda m: m.type in ("error", "warning") and opened.problems.append(m.text)
    )
    opened.on("pageerror", lambda e: opened.problems.append(str(e)))
    opened.on("request", lambda r: opened.requests.append(r.url))
    opened.goto((study / "report.html").as_uri())
    opened.wait_for_selector("body[data-ready='1']")
    yield opened
    context.close()


def _tab(page: Any, name: str) -> None:
    page.click(f"nav button[data-tab={name}]")
    page.wait_for_selector(f"section#{name}:not([hidden])")


@pytest.mark.slow
def test_every_view_draws_without_errors_or_requests(page: Any, study: Path) -> None:
    folder = Path(os.environ.get("EXPMAN_SCREENSHOTS") or study / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    for view in VIEWS:
        _tab(page, view)
        page.wait_for_timeout(100)
        page.screenshot(path=str(folder / f"report-{view}.png"), full_page=True)
    print(f"screenshots of the report: {folder}")
    assert page.problems == []
    assert page.requests == [(study / "report.html").as_uri()], "nothing but the page itself"
    # And the page could not have made one: its policy forbids every fetch.
    policy = page.get_attribute("meta[http-equiv='Content-Security-Policy']", "content")
    assert policy.startswith("default-src 'none'")
    blocked = page.evaluate(
        """() => fetch('http://127.0.0.1:9/x').then(() => 'fetched', () => 'blocked')"""
    )
    assert blocked == "blocked" and page.requests == [(study / "report.html").as_uri()]


@pytest.mark.slow
def test_the_table_sorts_and_filters(page: Any) -> None:
    def ids() -> list[str]:
        shown: list[str] = page.eval_on_selector_all(
            "#runs-table tbody tr[data-id]", "rows => rows.map(r => r.dataset.id)"
        )
        return shown

    assert ids() == ["0001", "0002", "0003", "0004"]
    assert page.text_content("#count") == "4 of 4 runs"
    page.click("#runs-table th[data-key='vars.STEP']")
    page.click("#runs-table th[data-key='vars.STEP']")  # descending
    assert ids()[0] == "0004"  # STEP=7
    assert page.get_attribute("#runs-table th[data-key='vars.STEP']", "class") == "sorted-desc"
    page.fill("#filter", "failed")
    assert page.text_content("#count") == "1 of 4 runs"
    assert ids() == ["0003"]
    page.fill("#filter", "")
    page.select_option("#status", "succeeded")
    assert ids() == ["0004", "0001", "0002"]  # still sorted by STEP, descending
    # The hypothesis text with markup is shown as text, never run.
    assert page.evaluate("document.querySelectorAll('script').length") == 3
    link = page.get_attribute("#runs-table tr[data-id='0004'] a", "href")
    assert link == "runs/0004/"


@pytest.mark.slow
def test_the_charts_hold_the_right_series(page: Any) -> None:
    _tab(page, "curves")
    series = page.evaluate("window.expmanReport.charts.curves.series.map(s => s.label)")
    assert series[0] == "step" and len(series) == 1 + 4, "one curve per run with a series"
    data = page.evaluate("window.expmanReport.charts.curves.data")
    assert len(data) == 5 and all(len(column) == len(data[0]) for column in data)
    legend = page.eval_on_selector_all("#curves-legend span", "s => s.map(x => x.textContent)")
    assert legend == ["GOAL=10", "GOAL=20", "GOAL=70"]  # the first var that varies
    _tab(page, "scatter")
    page.select_option("#scatter-x", "vars.GOAL")
    page.select_option("#scatter-y", "metrics.acc")
    labels = page.evaluate("window.expmanReport.charts.scatter.series.map(s => s.label)")
    assert labels == ["vars.GOAL", "failed", "succeeded"]  # a series per status
    data = page.evaluate("window.expmanReport.charts.scatter.data")
    assert data[0] == [10, 10, 20, 70]
    assert [v is not None for v in data[1]] == [False, True, False, False]  # 0003 failed
    _tab(page, "parallel")
    drawn = page.evaluate("window.expmanReport.parallel")
    assert drawn["axes"] == ["vars.GOAL", "vars.STEP", "metrics.acc"] and drawn["lines"] == 4
    page.select_option("#parallel-series", "max")
    drawn = page.evaluate("window.expmanReport.parallel")
    assert drawn["axes"] == ["vars.GOAL", "vars.STEP", "metrics.acc", "series.loss.max"]


@pytest.mark.slow
def test_the_heatmap_shows_done_failed_and_missing_points(page: Any) -> None:
    _tab(page, "heatmap")
    states = page.eval_on_selector_all(
        "#heatmap-grid td", "cells => cells.map(c => c.dataset.state)"
    )
    assert sorted(states) == ["done", "done", "failed", "missing", "missing", "missing"]
    header = page.eval_on_selector_all("#heatmap-grid th", "h => h.map(x => x.textContent)")
    assert header == ["STEP \\ GOAL", "10", "20", "1", "2", "3"]


@pytest.mark.slow
def test_the_diff_shows_what_changed_between_two_chosen_runs(page: Any) -> None:
    page.check("#runs-table tr[data-id='0001'] input")
    page.check("#runs-table tr[data-id='0004'] input")
    _tab(page, "diff")
    changed = page.eval_on_selector_all(
        "#diff-table tr.changed", "rows => rows.map(r => r.dataset.key)"
    )
    assert "vars.STEP" in changed and "vars.GOAL" in changed and "metrics.acc" in changed
    row = page.eval_on_selector(
        "#diff-table tr[data-key='vars.STEP']", "r => [...r.cells].map(c => c.textContent)"
    )
    assert row == ["vars", "STEP", "1", "7"]
    page.uncheck("#diff-only")
    assert page.eval_on_selector_all("#diff-table tr:not(.changed)", "r => r.length") > 0


@pytest.mark.slow
def test_a_reload_keeps_the_view_and_its_choices(page: Any) -> None:
    _tab(page, "curves")
    page.select_option("#curves-group", "GOAL")
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    assert page.is_visible("section#curves")
    assert page.input_value("#curves-group") == "GOAL"


@pytest.fixture
def hostile_page(browser: Any, hostile: Path) -> Any:
    """The hostile archive's report, written inside the archive (links are then bare
    folder names), open; every dialog a script opens is kept on it."""
    expman(hostile, "report", "-o", "runs/report.html")
    context = browser.new_context(viewport={"width": 1300, "height": 800})
    opened = context.new_page()
    opened.dialogs = []

    def dialog(d: Any) -> None:
        opened.dialogs.append(d.message)
        d.dismiss()

    opened.on("dialog", dialog)
    opened.goto((hostile / "runs" / "report.html").as_uri())
    opened.wait_for_selector("body[data-ready='1']")
    yield opened
    context.close()


def _elements(page: Any) -> dict[str, int]:
    counts: dict[str, int] = page.evaluate(
        """() => Object.fromEntries(['script', 'img', 'svg', 'iframe', 'object', 'embed']
            .map(t => [t, document.getElementsByTagName(t).length]))"""
    )
    return counts


@pytest.mark.slow
@pytest.mark.parametrize("view", VIEWS)
def test_text_from_records_is_text_in_every_view(hostile_page: Any, view: str) -> None:
    """Each view, with each choice of its menus (metric, var and series names, sweeps,
    runs), puts the records' text in as text: no element made of it, nothing run."""
    _tab(hostile_page, view)
    for menu in hostile_page.query_selector_all(f"section#{view} select"):
        for value in menu.eval_on_selector_all("option", "os => os.map(o => o.value)"):
            menu.select_option(value=value)
    if view == "diff":  # every run was added: all three side by side
        assert hostile_page.eval_on_selector_all("#diff-table th", "h => h.length") == 2 + 3
    hostile_page.wait_for_timeout(100)
    assert hostile_page.dialogs == []
    assert _elements(hostile_page) == dict.fromkeys(
        ["img", "svg", "iframe", "object", "embed"], 0
    ) | {"script": 3}
    if view in ("runs", "diff", "run"):
        assert "</script><img src=x" in hostile_page.inner_text(f"section#{view}")


@pytest.mark.slow
def test_a_run_links_to_its_folder_and_clicking_it_runs_nothing(hostile_page: Any) -> None:
    link = hostile_page.locator("#runs-table tbody tr[data-id] a:not(.logs)").nth(2)
    href = link.get_attribute("href")
    link.click()
    hostile_page.wait_for_timeout(300)
    assert hostile_page.dialogs == []
    assert href == "0003/"
    hostile_page.wait_for_url("**/runs/0003/")


@pytest.mark.slow
def test_the_page_runs_no_script_but_its_own(hostile_page: Any) -> None:
    """Its policy names its two scripts by hash: a `javascript:` URL, an inline event
    handler or a script element added to the page (as a bug in the page could) is refused."""
    policy = hostile_page.get_attribute("meta[http-equiv='Content-Security-Policy']", "content")
    scripts = next(p for p in policy.split(";") if p.strip().startswith("script-src"))
    assert scripts.split()[1:] and all(s.startswith("'sha256-") for s in scripts.split()[1:])
    hostile_page.evaluate(
        """() => {
            const link = document.createElement("a");
            link.id = "injected-link"; link.textContent = "link";
            link.href = "javascript:alert('a javascript: URL')";
            const button = document.createElement("button");
            button.id = "injected-button"; button.textContent = "button";
            button.setAttribute("onclick", "alert('an inline handler')");
            document.body.prepend(link, button);
            const script = document.createElement("script");
            script.textContent = "alert('an added script')";
            document.body.append(script);
        }"""
    )
    hostile_page.click("#injected-link")
    hostile_page.click("#injected-button")
    hostile_page.wait_for_timeout(300)
    assert hostile_page.dialogs == []


def _hand_made(root: Path, records: dict[str, dict[str, Any]]) -> Path:
    """An archive of hand-written records (run folder -> record), as a pulled or edited
    archive may hold, and its report written beside it."""
    for folder, record in records.items():
        (root / "runs" / folder).mkdir(parents=True, exist_ok=True)
        curves = record.pop("curves", None)
        text = json.dumps({"id": folder, "status": "succeeded", **record})
        (root / "runs" / folder / "run.json").write_text(text)
        if curves is not None:  # as series.sampled.json holds them: name -> step, value
            (root / "runs" / folder / "series.sampled.json").write_text(json.dumps(curves))
    page = render(gather(Archive(root / "runs"), None, root), "hand-made")
    (root / "report.html").write_bytes(page)
    return root / "report.html"


def _open(browser: Any, path: Path, fragment: str = "") -> Any:
    context = browser.new_context(viewport={"width": 1300, "height": 800})
    opened = context.new_page()
    opened.problems = []
    opened.on("pageerror", lambda e: opened.problems.append(str(e)))
    opened.goto(path.as_uri() + fragment)
    opened.wait_for_selector("body[data-ready='1']", timeout=5000)
    return opened


@pytest.mark.slow
def test_a_number_json_cannot_hold_is_shown_as_text(browser: Any, tmp_path: Path) -> None:
    """Python reads `Infinity` and `NaN` in a record (JSON has neither); the page's data
    must still be JSON, or the page would show nothing at all."""
    report = _hand_made(
        tmp_path,
        {
            "0001": {"metrics": {"acc": float("inf"), "loss": float("nan"), "err": 0.5}},
            "0002": {"metrics": {"acc": 0.5, "loss": 0.25, "err": -float("inf")}},
        },
    )
    text = report.read_text()
    data = text.split('id="expman-data">', 1)[1].split("</script>")[0]
    json.loads(data, parse_constant=lambda c: pytest.fail(f"{c} in the page's data"))
    page = _open(browser, report)
    assert page.problems == []
    row = page.eval_on_selector(
        "#runs-table tr[data-id='0001']", "r => [...r.cells].map(c => c.textContent)"
    )
    assert "Infinity" in row and "NaN" in row
    assert page.text_content("#count") == "2 of 2 runs"


@pytest.mark.slow
def test_the_diff_marks_values_that_differ_past_the_digits_shown(
    browser: Any, tmp_path: Path
) -> None:
    report = _hand_made(
        tmp_path,
        {"0001": {"metrics": {"acc": 0.912341}}, "0002": {"metrics": {"acc": 0.912342}}},
    )
    """Both show 0.9123: `only what differs` (on by default) must still show the row."""
    page = _open(browser, report, "#tab=diff&runs=0001,0002")
    assert page.is_checked("#diff-only")
    rows = page.locator("#diff-table tr[data-key='metrics.acc']")
    assert rows.count() == 1 and rows.get_attribute("class") == "changed"
    assert rows.locator("td").nth(2).get_attribute("title") == "0.912341"


@pytest.mark.slow
def test_the_best_is_the_lowest_only_for_names_that_say_a_cost(
    browser: Any, tmp_path: Path
) -> None:
    """`answer_accuracy` holds `wer`, `confidence` holds `fid`, `sentiment_f1` holds
    `time`: none is a cost; `val_loss`, `error_rate` and `trainTime` are."""
    names = ["answer_accuracy", "confidence", "sentiment_f1", "val_loss", "error_rate", "trainTime"]
    report = _hand_made(
        tmp_path,
        {
            "0001": {"metrics": dict.fromkeys(names, 1)},
            "0002": {"metrics": dict.fromkeys(names, 2)},
        },
    )
    page = _open(browser, report)
    best = {
        name: page.eval_on_selector_all(
            "#runs-table tr[data-id] td.best[title*='best']",
            f"cs => cs.filter(c => c.cellIndex === "
            f"[...document.querySelectorAll('#runs-table th')].findIndex(h => h.dataset.key === "
            f"'metrics.{name}')).map(c => c.closest('tr').dataset.id)",
        )
        for name in names
    }
    assert best == {
        "answer_accuracy": ["0002"],
        "confidence": ["0002"],
        "sentiment_f1": ["0002"],
        "val_loss": ["0001"],
        "error_rate": ["0001"],
        "trainTime": ["0001"],
    }


@pytest.mark.slow
def test_the_best_is_marked_only_on_a_run_that_succeeded(browser: Any, tmp_path: Path) -> None:
    """A run that failed or was interrupted half-way may hold the lowest loss it wrote
    before it stopped: that is no result, and marking it best would point the reader at it."""
    report = _hand_made(
        tmp_path,
        {
            "0001": {"metrics": {"loss": 0.5}},
            "0002": {"status": "failed", "metrics": {"loss": 0.1}},
            "0003": {"status": "interrupted", "metrics": {"loss": 0.2}},
            "0004": {"metrics": {"loss": 0.7}},
            "0005": {"status": "failed", "metrics": {"loss": 0.5}},
        },
    )
    page = _open(browser, report)
    marked = page.eval_on_selector_all(
        "#runs-table tr[data-id] td.best", "cs => cs.map(c => c.closest('tr').dataset.id)"
    )
    assert marked == ["0001"]


@pytest.mark.slow
def test_a_point_run_again_is_drawn_from_its_newest_run_however_the_table_is_sorted(
    browser: Any, tmp_path: Path
) -> None:
    """Point 0 failed twice (0001, then 0002): its curve is 0002's, also when the runs
    are sorted newest first."""
    curve = {"loss": {"step": [0, 1, 2], "value": [3.0, 2.0, 1.0]}}
    failed = {
        "status": "failed",
        "sweep": {"id": "s0001", "index": 0},
        "series": {"loss": {"last": 1.0, "min": 1.0, "max": 3.0, "count": 3}},
        "curves": curve,
    }
    report = _hand_made(tmp_path, {"0001": dict(failed), "0002": dict(failed)})
    for fragment in ("", "&sort=id&desc=1"):
        page = _open(browser, report, "#tab=curves&metrics=loss" + fragment)
        labels = page.evaluate("window.expmanReport.charts.curves.series.map(s => s.label)")
        assert labels[1:] == ["0002"], fragment


@pytest.mark.slow
def test_a_group_has_one_colour_in_every_panel_and_the_legend(browser: Any, tmp_path: Path) -> None:
    """A=1 logged only `acc`: in the `loss` panel, A=2 must keep the colour the legend
    (and the `acc` panel) gives it."""

    def run(a: int, names: list[str]) -> dict[str, Any]:
        return {
            "vars": {"A": a},
            "series": {n: {"last": 1.0, "min": 1.0, "max": 2.0, "count": 2} for n in names},
            "curves": {n: {"step": [0, 1], "value": [2.0, 1.0]} for n in names},
        }

    report = _hand_made(tmp_path, {"0001": run(1, ["acc"]), "0002": run(2, ["acc", "loss"])})
    page = _open(browser, report, "#tab=curves&metrics=acc,loss&by=A")
    colours = page.evaluate(
        """() => Object.fromEntries(['curves:acc', 'curves:loss'].map(k => {
            const s = window.expmanReport.charts[k].series.find(s => s.label === 'A=2 (1 run)');
            return [k, s.stroke()];
        }))"""
    )
    legend = page.evaluate(
        """() => [...document.querySelectorAll('#curves-legend span')]
            .map(s => [s.textContent, s.style.getPropertyValue('--swatch')])"""
    )
    assert colours["curves:acc"] == colours["curves:loss"]
    assert ["A=2 (1 run)", colours["curves:loss"]] in legend


@pytest.mark.slow
def test_a_scatter_of_a_denormal_is_drawn(browser: Any, tmp_path: Path) -> None:
    """5e-324 to 1 spans more than 50 x, but a log axis cannot count its decades."""
    report = _hand_made(
        tmp_path,
        {
            "0001": {"vars": {"A": 1}, "metrics": {"loss": 5e-324}},
            "0002": {"vars": {"A": 2}, "metrics": {"loss": 1.0}},
        },
    )
    page = _open(browser, report, "#tab=scatter&x=vars.A&y=metrics.loss")
    assert page.evaluate("window.expmanReport.charts.scatter.scales.y.distr") == 1
    assert page.locator("#scatter-chart .u-over").bounding_box()["height"] > 100
    assert page.problems == []


@pytest.mark.slow
def test_an_image_link_opens_its_file_only_when_it_is_that_image(
    browser: Any, tmp_path: Path
) -> None:
    """x.png is a link to the run's evil.html, y.png is HTML: clicked, either ran its
    script (a browser takes a linked file's type from its target's name). Only a file
    that is the image its name says is linked to; the others link to their folder."""
    outputs = tmp_path / "runs" / "0001" / "outputs"
    outputs.mkdir(parents=True)
    (outputs / "evil.html").write_text("<script>alert('evil')</script>")
    (outputs / "x.png").symlink_to("evil.html")
    (outputs / "y.png").write_text("<html><script>alert('y')</script></html>")
    (outputs / "z.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    names = ("evil.html", "x.png", "y.png", "z.png")
    listed = [{"path": n, "size": 1, "sha256": "0" * 64} for n in names]
    report = _hand_made(tmp_path, {"0001": {"outputs": listed}})
    page = _open(browser, report, "#tab=run&run=0001")
    page.dialogs = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    links = page.eval_on_selector_all(
        "#run-detail .gallery a", "a => a.map(x => [x.title, x.getAttribute('href')])"
    )
    assert links == [
        ["x.png", "runs/0001/outputs/"],
        ["y.png", "runs/0001/outputs/"],
        ["z.png", "runs/0001/outputs/z.png"],
    ]
    page.goto((outputs / "x.png").as_uri())  # what a link to the file would have done
    page.wait_for_timeout(300)
    assert page.dialogs == ["evil"]

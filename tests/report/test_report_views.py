"""The report's views in a real Chromium, over the `lab` archive (tests/report/conftest.py):
curves (panels, log y, smoothing, groups, a diverged run, a point run again), the runs
table (columns, precision, best values), series maxima, images, the diff of N runs and
the view in the URL fragment."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.report.conftest import expman

Opener = Callable[[str], Any]

# 1-3 s each in a browser, after a 6 s sweep: out of `doit quick`, run by CI.
pytestmark = pytest.mark.slow


@pytest.fixture
def open_lab(browser: Any, lab: Path) -> Iterator[Opener]:
    """Opens the lab's report at a fragment, each time in a new browser context (no state
    kept from an earlier page); dialogs and console errors are kept on the page."""
    expman(lab, "report", "-o", "report.html")
    contexts: list[Any] = []

    def opening(fragment: str) -> Any:
        context = browser.new_context(viewport={"width": 1300, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.dialogs = []
        page.problems = []
        page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
        page.on("pageerror", lambda e: page.problems.append(str(e)))
        page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
        page.goto((lab / "report.html").as_uri() + fragment)
        page.wait_for_selector("body[data-ready='1']")
        return page

    yield opening
    for context in contexts:
        context.close()


def _labels(page: Any, chart: str = "curves") -> list[str]:
    labels: list[str] = page.evaluate(
        f"window.expmanReport.charts[{chart!r}].series.map(s => s.label)"
    )
    return labels


def _y_range(page: Any, chart: str) -> list[float]:
    found: list[float] = page.evaluate(
        f"(() => {{ const y = window.expmanReport.charts[{chart!r}].scales.y;"
        " return [y.min, y.max, y.distr]; })()"
    )
    return found


def test_curves_show_a_panel_per_chosen_metric_and_a_log_axis(open_lab: Opener) -> None:
    page = open_lab("#tab=curves&metrics=acc,loss&smooth=0")
    assert page.locator("#curves-chart .panel").evaluate_all(
        "ps => ps.map(p => p.dataset.metric)"
    ) == ["acc", "loss"]
    page.uncheck("#curves-metrics input[value=acc]")
    assert page.locator("#curves-chart .panel").count() == 1
    box = page.locator(".panel[data-metric=loss] .u-over").bounding_box()
    middle = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.25, middle)  # drag across: zoom into steps
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, middle, steps=5)
    page.mouse.up()
    low, high = page.evaluate(
        "(() => { const x = window.expmanReport.charts['curves:loss'].scales.x;"
        " return [x.min, x.max]; })()"
    )
    assert 8 < low < 16 and 20 < high < 28, "about a quarter to a half of steps 0-49"
    page.click("#curves-log")
    assert _y_range(page, "curves:loss")[2] == 3  # uPlot's log distribution
    assert "log=1" in page.evaluate("location.hash")
    assert page.problems == []


def test_smoothing_draws_the_ema_over_the_faint_raw_curve(open_lab: Opener) -> None:
    page = open_lab("#tab=curves&metrics=loss")
    plain = _labels(page)
    page.locator("#curves-smooth").fill("0.8")
    labels = _labels(page)
    assert len(labels) == 1 + 2 * (len(plain) - 1)
    raw_at = labels.index("0001 raw")
    raw, smooth = page.evaluate(
        f"[window.expmanReport.charts.curves.data[{raw_at}],"
        f" window.expmanReport.charts.curves.data[{raw_at + 1}]]"
    )
    points = [k for k, v in enumerate(raw) if v is not None]
    first, later = points[0], points[10]
    assert smooth[first] == raw[first] and smooth[later] > raw[later]  # smoothed, it lags
    stroke = page.evaluate(f"window.expmanReport.charts.curves.series[{raw_at}]._stroke")
    assert stroke.endswith("40"), "the raw curve is drawn faint"
    assert page.text_content("#curves-smooth-value") == "0.8"


def test_a_diverged_run_starts_the_panel_on_a_robust_range_one_click_shows_all(
    open_lab: Opener,
) -> None:
    page = open_lab("#tab=curves&metrics=loss")
    note = page.text_content(".panel[data-metric=loss] .note")
    assert "out of it: 0006" in note
    low, high, _ = _y_range(page, "curves:loss")
    assert low > 0 and high < 100, "the other curves are not flattened by 0006's 1e24"
    page.click(".panel[data-metric=loss] button.show-all")
    assert _y_range(page, "curves:loss")[1] > 1e23
    assert page.text_content(".panel[data-metric=loss] .note") == ""
    page.fill("#curves-ymin", "0.25")  # a range of one's own
    page.fill("#curves-ymax", "0.5")
    page.press("#curves-ymax", "Enter")
    assert _y_range(page, "curves:loss")[:2] == [0.25, 0.5]
    assert "ymin=0.25&ymax=0.5" in page.evaluate("location.hash")


def test_a_range_a_log_axis_cannot_draw_or_upside_down_is_mended(open_lab: Opener) -> None:
    """`from` above `to` is the same range; on a log axis a bound at or below 0 is
    automatic (the panel was drawn empty, without a y axis)."""
    page = open_lab("#tab=curves&metrics=loss&ymin=0.5&ymax=0.25")
    assert _y_range(page, "curves:loss")[:2] == [0.25, 0.5]
    page = open_lab("#tab=curves&metrics=loss&log=1&ymin=-1&ymax=0.5")
    low, high, distr = _y_range(page, "curves:loss")
    assert distr == 3 and 0 < low < 0.5 and high == 0.5
    assert page.locator(".panel[data-metric=loss] .u-over").bounding_box()["height"] > 100
    assert page.problems == []
    for ends in ("ymin=5e-324", "ymin=5e-324&ymax=1e308"):  # 10 ** -324 is 0: no decades
        page = open_lab("#tab=curves&metrics=loss&log=1&" + ends)
        assert page.locator(".panel[data-metric=loss] .u-over").bounding_box()["height"] > 100
        low, high, _ = _y_range(page, "curves:loss")
        assert 0 < low < 1 < high < 1e300 and page.problems == [], ends


def test_a_diverged_run_does_not_flatten_the_scatter(open_lab: Opener) -> None:
    """Run 0006's loss reaches 1e24: the y axis is logarithmic, as x is, when the
    values span more than 50 x."""
    page = open_lab("#tab=scatter&x=vars.LR&y=series.loss.max")
    assert page.evaluate("window.expmanReport.charts.scatter.scales.y.distr") == 3
    assert page.evaluate("window.expmanReport.charts.scatter.scales.x.distr") == 3
    page.select_option("#scatter-y", "series.acc.last")  # from 0.5 to 1: linear
    assert page.evaluate("window.expmanReport.charts.scatter.scales.y.distr") == 1


def test_another_series_can_be_the_x_axis(open_lab: Opener) -> None:
    page = open_lab("#tab=curves&metrics=acc")
    page.select_option("#curves-x", "time")
    assert "xaxis=time" in page.evaluate("location.hash")
    labels = _labels(page)
    data = page.evaluate("window.expmanReport.charts.curves.data")
    assert labels[0] == "time" and 9.5 < data[0][-1] < 9.8  # SEED=2 ran for 9.8 s
    slow, fast = data[labels.index("0002")], data[labels.index("0001")]
    assert slow[-1] is not None and fast[-1] is None  # 0001 ended at 4.9 s
    assert fast[0] == slow[0] == 0.5


def test_a_sweep_point_run_again_is_one_curve_unless_asked(open_lab: Opener) -> None:
    page = open_lab("#tab=curves&metrics=loss")
    assert _labels(page)[1:] == ["0001", "0002", "0003", "0005", "0006"]  # not 0004
    page.click("#curves-every")
    assert _labels(page)[1:] == ["0001", "0002", "0003", "0004", "0005", "0006"]


def test_grouping_by_a_var_draws_the_mean_and_a_band_across_the_others(
    open_lab: Opener,
) -> None:
    page = open_lab("#tab=curves&metrics=acc")
    page.check("#curves-by input[value=LR]")
    labels = _labels(page)
    assert "LR=0.1 (2 runs)" in labels and "LR=100 (1 run)" in labels
    bands = page.evaluate("window.expmanReport.charts.curves.bands.length")
    assert bands == 3
    legend = page.eval_on_selector_all("#curves-legend span", "s => s.map(x => x.textContent)")
    assert legend == ["LR=0.1 (2 runs)", "LR=1 (2 runs)", "LR=100 (1 run)"]
    at = labels.index("LR=0.1 (2 runs)")
    data = page.evaluate("window.expmanReport.charts.curves.data")
    low, high, mean = data[at - 2], data[at - 1], data[at]
    k = [k for k, v in enumerate(mean) if v is not None][5]
    assert low[k] < mean[k] < high[k]  # SEED 1 and 2 differ by 0.01 in loss
    page.select_option("#curves-band", "std")
    data = page.evaluate("window.expmanReport.charts.curves.data")
    assert data[at][k] - data[at - 2][k] == pytest.approx(0.0025, abs=1e-4)  # one std


def test_hover_names_the_run_and_its_vars(open_lab: Opener) -> None:
    page = open_lab("#tab=curves&metrics=acc")
    line = _labels(page).index("0006")
    x, y = page.evaluate(
        f"""(() => {{ const u = window.expmanReport.charts.curves;
            const box = u.over.getBoundingClientRect();
            const k = u.data[{line}].findIndex((v, i) => v !== null && i > u.data[0].length / 2);
            return [box.left + u.valToPos(u.data[0][k], 'x'),
                    box.top + u.valToPos(u.data[{line}][k], 'y')]; }})()"""
    )
    page.mouse.move(x, y)
    page.mouse.move(x + 1, y)
    text = page.text_content("#curves-hover")
    assert text.startswith("run 0006 (succeeded) LR=100 SEED=1 · acc 0.5 at step")


def test_the_table_shows_results_first_hides_constant_columns_and_marks_the_best(
    open_lab: Opener,
) -> None:
    page = open_lab("")
    keys = page.eval_on_selector_all("#runs-table th", "h => h.map(x => x.dataset.key)")
    assert keys[:10] == [
        None,  # the diff's boxes
        "id",
        "status",
        "metrics.acc",
        "series.acc.last",
        "series.acc.max",  # its min is 0.5 in every run: a constant column
        "series.loss.last",
        "series.loss.min",
        "series.loss.max",
        "series.time.last",  # its min is 0 in every run
    ]
    assert "hypothesis" not in keys and "series.acc.min" not in keys
    assert keys[-4:] == ["vars.LR", "vars.SEED", "started", "duration"]
    page.check("#show-constant")
    assert "hypothesis" in page.eval_on_selector_all(
        "#runs-table th", "h => h.map(x => x.dataset.key)"
    )
    page.uncheck("#show-constant")
    page.click("#column-chooser summary")
    page.uncheck("#column-list input[value='vars.SEED']")
    assert page.locator("#runs-table th[data-key='vars.SEED']").count() == 0
    best = page.eval_on_selector_all(
        "#runs-table td.best", "cs => cs.map(c => [c.parentNode.dataset.id, c.title])"
    )
    assert ["0003", "0.985 (best: highest)"] in best  # acc
    assert ["0003", "0.03 (best: lowest)"] in best  # loss
    long = page.locator("#runs-table tr[data-id='0001'] td.num").first
    assert long.text_content() == "0.9103"  # four digits, and the full value on hover
    assert long.get_attribute("title") == "0.9102542372881356"
    duration = page.eval_on_selector_all(
        "#runs-table th", "h => h.findIndex(x => x.dataset.key === 'duration')"
    )
    text = page.eval_on_selector(
        "#runs-table tr[data-id='0001']", f"r => r.cells[{duration}].textContent"
    )
    assert text.endswith(" s") and len(text) <= 6


def test_series_maxima_are_offered_in_every_view(open_lab: Opener) -> None:
    page = open_lab("#tab=scatter")
    assert "series.acc.max" in page.eval_on_selector_all(
        "#scatter-y option", "os => os.map(o => o.value)"
    )
    page.click("nav button[data-tab=heatmap]")
    page.select_option("#heat-metric", "series.acc.max")
    assert page.locator("#heatmap-grid td[data-state=done]").count() == 4
    page.click("nav button[data-tab=parallel]")
    page.select_option("#parallel-series", "max")
    assert "series.acc.max" in page.evaluate("window.expmanReport.parallel.axes")


def test_a_runs_images_are_thumbnails_in_its_detail_and_side_by_side_in_the_diff(
    open_lab: Opener,
) -> None:
    page = open_lab("")
    page.click("#runs-table tr[data-id='0003'] td.num >> nth=0")  # a row opens the run
    assert page.is_visible("section#run") and page.input_value("#run-id") == "0003"
    sources = page.eval_on_selector_all("#run-detail img.thumb", "i => i.map(x => x.src)")
    assert [s.split(";")[0] for s in sources] == ["data:image/svg+xml", "data:image/png"]
    loaded = page.eval_on_selector_all(
        "#run-detail img.thumb", "i => i.map(x => x.complete && x.naturalWidth)"
    )
    assert loaded == [20, 2]
    links = page.eval_on_selector_all("#run-detail .gallery a", "a => a.map(x => x.href)")
    assert links[1].endswith("/runs/0003/outputs/plot.png")
    assert page.evaluate("document.getElementsByTagName('svg').length") == 0
    page.goto(page.url.split("#")[0] + "#tab=diff&runs=0001,0003,0006")
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    rows = page.eval_on_selector_all(
        "#diff-table tr.images",
        "rs => rs.map(r => [r.dataset.key, r.querySelectorAll('img').length])",
    )
    assert rows == [["images.curve.svg", 3], ["images.plot.png", 3]]
    page.wait_for_timeout(200)
    assert page.dialogs == [], "the SVG's script never ran"


def test_clicking_an_svg_thumbnail_runs_none_of_its_script(open_lab: Opener) -> None:
    """The lab's curve.svg holds script: opened by itself (not as an <img>), a browser
    runs it, outside the page's policy. Its link opens the folder that holds it."""
    page = open_lab("#tab=run&run=0003")
    link = page.locator("#run-detail .gallery a[title='curve.svg']")
    assert link.get_attribute("href").endswith("/0003/outputs/")
    link.click()
    page.wait_for_timeout(500)
    assert page.dialogs == []


def test_the_diff_compares_n_chosen_runs(open_lab: Opener) -> None:
    page = open_lab("")
    for run in ("0001", "0003", "0006"):
        page.check(f"#runs-table tr[data-id='{run}'] input")
    page.click("nav button[data-tab=diff]")
    row = page.eval_on_selector(
        "#diff-table tr[data-key='vars.LR']", "r => [...r.cells].map(c => c.textContent)"
    )
    assert row == ["vars", "LR", "0.1", "1", "100"]
    assert page.locator("#diff-table tr[data-key='vars.SEED']").count() == 0  # all SEED=1
    page.click("#diff-runs button[data-id='0003']")
    assert page.eval_on_selector_all("#diff-table thead th", "h => h.length") == 2 + 2
    page.select_option("#diff-add", "0002")
    assert page.locator("#diff-table tr[data-key='vars.SEED']").count() == 1
    assert "runs=0001%2C0006%2C0002" in page.evaluate("location.hash")


def test_the_fragment_opens_a_view_in_a_new_browser(open_lab: Opener) -> None:
    page = open_lab("")
    page.fill("#filter", "succeeded")
    page.click("nav button[data-tab=scatter]")
    page.select_option("#scatter-x", "vars.LR")
    page.select_option("#scatter-y", "series.acc.max")
    link = page.url
    again = open_lab("#" + link.split("#", 1)[1])
    assert again.is_visible("section#scatter")
    assert again.input_value("#scatter-y") == "series.acc.max"
    assert again.input_value("#filter") == "succeeded"
    assert again.text_content("#count") == "5 of 6 runs"


def test_a_hostile_fragment_is_only_text(open_lab: Opener) -> None:
    attack = "<img src=x onerror=alert(1)>"
    page = open_lab(
        f"#tab={attack}&filter={attack}&metrics=__proto__,constructor&runs=../x,0001"
        f"&status={attack}&sort=__proto__&smooth=1e999&run=javascript:alert(2)"
    )
    page.wait_for_timeout(200)
    assert page.dialogs == [] and page.problems == []
    assert page.is_visible("section#runs")
    assert page.input_value("#filter") == attack
    assert page.text_content("#count") == "0 of 6 runs"
    assert page.evaluate("document.getElementsByTagName('img').length") == 0
    page.click("nav button[data-tab=curves]")
    assert page.evaluate("window.expmanReport.state.curves.metrics") == ["acc"]  # the first
    assert page.evaluate("window.expmanReport.state.curves.smooth") == 0
    assert page.evaluate("window.expmanReport.state.chosen") == ["0001"]

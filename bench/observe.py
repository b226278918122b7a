"""Observing runs: metric series at the end of a run, queries over their summaries, and
the report (generated, then opened in Chromium).

Each figure against a baseline measured in the same run (where dividing by it would
mean nothing, an absolute target, the baseline printed for scale):
- `expman run` + `end` of a run whose stage logs 1,000,000 points over about 3 s, against
  the same run logging nothing for as long: at most 1 s more. (Also shown: the points
  written all at once at the end of the stage, the worst case, when nothing could be
  read while the stage ran.)
- a query over 10,000 runs with series summaries, against the same query over 10,000 runs
  without: at most 1.15 x (no slower, within noise).
- `expman report` of 1,000 runs, 100 with 3 metrics x 10,000 steps: under 2 s (baseline:
  `expman query` reading the same runs), the file under 3 MB, and its first render in
  Chromium under 1 s (the browser's own clock; baseline: an empty page).
- `expman report` of 10,000 runs without series: under 5 s; in the page, sorting the table
  and scrolling it under 100 ms per action (for scale: sorting 10,000 numbers there).
- `import expman` against `python -c pass`; one `expman.log` call against writing the same
  line with an already open file: under 50 us.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import ENV, EXPMAN, absolute, call, experiment, median, report, timed
from bench.query import SELECTION
from bench.query import _archive as cloned_archive

# The stage writes prepared lines (making them is not what is measured) in 100 batches.
LOGGER = """\
import os, sys, time
points, seconds = int(sys.argv[1]), float(sys.argv[2])
data = open("points.jsonl", "rb").read() if points else b""
lines = data.splitlines(keepends=True)[:points]
with open(os.environ["EXPMAN_METRICS"], "ab") as f:
    for b in range(100):
        f.write(b"".join(lines[b * len(lines) // 100 : (b + 1) * len(lines) // 100]))
        f.flush()
        time.sleep(seconds / 100)
"""

EXPFILE = """\
version: 1
name: observe
vars: {POINTS: 0, SECONDS: 3}
stages:
  run: {cmd: "PYTHON logger.py $POINTS $SECONDS"}
  fetch: {cmd: "true"}
"""


def _series_end(work: Path, repeat: int) -> bool:
    points = b"".join(
        json.dumps({"step": i, "loss": 1 / (1 + i)}).encode() + b"\n" for i in range(1_000_000)
    )
    files: dict[str, str | bytes] = {"logger.py": LOGGER, "points.jsonl": points}
    root = experiment(work / "series", EXPFILE.replace("PYTHON", sys.executable), **files)

    def run_and_end(points: int, seconds: float) -> None:
        call(EXPMAN, "run", "-s", f"POINTS={points}", "-s", f"SECONDS={seconds}", cwd=root)
        call(EXPMAN, "end", "-m", "x", cwd=root)

    quiet = timed(lambda: run_and_end(0, 3), repeat)
    logged = timed(lambda: run_and_end(1_000_000, 3), repeat)
    burst = timed(lambda: run_and_end(1_000_000, 0), 1)[0]
    bare = timed(lambda: run_and_end(0, 0), 1)[0]
    extra = median(logged) - median(quiet)
    print(
        f"  run + end: {median(quiet):.3f} s logging nothing for 3 s, {median(logged):.3f} s "
        f"logging 1,000,000 points over 3 s; all at once at the end: {burst - bare:.3f} s more"
    )
    return absolute(
        "  1,000,000 points: time added",
        extra,
        "s",
        1.0,
        f"the run logging nothing: {median(quiet):.3f} s, most of it the stage's sleep",
    )


def _with_series(archive: Path, every: int) -> None:
    """Give every `every`-th record a series summary of 3 metrics (as a run writes it)."""
    summary = {
        "count": 10000,
        "first": 2.3,
        "last": 0.1,
        "min": 0.09,
        "min_step": 9000,
        "max": 2.3,
        "max_step": 0,
    }
    for path in sorted(archive.glob("*/run.json"))[::every]:
        record = json.loads(path.read_text())
        record["series"] = {name: dict(summary) for name in ("loss", "acc", "lr")}
        path.write_text(json.dumps(record, indent=2) + "\n")


def _query(archive: Path) -> None:
    subprocess.run(
        [EXPMAN, "query", "--archive", str(archive), SELECTION],
        capture_output=True,
        check=True,
        env=ENV,
    )


def _summaries(work: Path, plain: Path, repeat: int) -> bool:
    summarised = cloned_archive(work / "summarised", 10_000)
    _with_series(summarised, 1)
    _query(plain)  # the caches
    _query(summarised)
    before = timed(lambda: _query(plain), repeat)
    after = timed(lambda: _query(summarised), repeat)
    return report(
        "  query, 10,000 runs with series",
        median(after),
        "s",
        "10,000 runs without",
        median(before),
        1.15 * median(before),
    )


def _sampled(work: Path) -> bytes:
    """What a run with 3 metrics x 10,000 steps stores as its sampled curves."""
    from expman.observe import seriesreader

    path = work / "series.jsonl"
    with path.open("w") as f:
        for step in range(10_000):
            f.write(
                json.dumps(
                    {
                        "step": step,
                        "loss": 2 / (1 + step),
                        "acc": 1 - 1 / (1 + step),
                        "lr": 0.1 * 0.999**step,
                    }
                )
                + "\n"
            )
    reader = seriesreader.Reader(path)
    reader.poll(complete=True)
    return json.dumps(reader.sampled(), sort_keys=True, separators=(",", ":")).encode()


def _report(archive: Path, output: Path) -> None:
    call(EXPMAN, "report", "--archive", str(archive), "-o", str(output), cwd=output.parent)


def _browser() -> Any:
    if shutil.which("chromium") is None:
        return None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    return sync_playwright


def _render(page: Any, path: Path, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        page.goto(path.as_uri())
        page.wait_for_selector("body[data-ready='1']", state="attached")
        times.append(page.evaluate("window.expmanReport.renderedAt") / 1000)
    return times


def _reports(work: Path, large: Path, repeat: int) -> bool:
    """The report's figures; `large`: an archive of 10,000 runs without series."""
    met = True
    small = cloned_archive(work / "thousand", 1000)
    _with_series(small, 10)
    curves = _sampled(work)
    for path in sorted(small.glob("*/run.json"))[::10]:
        (path.parent / "series.sampled.json").write_bytes(curves)
    output = work / "thousand.html"
    generated = timed(lambda: _report(small, output), repeat)
    reading = timed(lambda: _query(small), repeat)
    met &= report(
        "  report, 1,000 runs (100 with 3 x 10,000 steps)",
        median(generated),
        "s",
        "expman query of them",
        median(reading),
        2.0,
    )
    size = output.stat().st_size / 1e6
    met &= report(
        "  its size",
        size,
        "MB",
        "the records' run.json files",
        sum(p.stat().st_size for p in small.glob("*/run.json")) / 1e6,
        3.0,
    )
    big = work / "ten-thousand.html"
    generated = timed(lambda: _report(large, big), 3)
    reading = timed(lambda: _query(large), 3)
    met &= report(
        "  report, 10,000 runs",
        median(generated),
        "s",
        "expman query of them",
        median(reading),
        5.0,
    )
    driver = _browser()
    if driver is None:
        print(
            "  (Chromium or playwright missing: the render figures are left out; "
            "run scripts/install-test-services)"
        )
        return False
    blank = work / "blank.html"
    blank.write_text(
        "<!doctype html><title>x</title><body><script>window.expmanReport="
        "{renderedAt: performance.now()};document.body.dataset.ready='1'</script>"
    )
    with driver() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium"), args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1300, "height": 800})
        empty = _render(page, blank, repeat)
        first = _render(page, output, repeat)
        met &= report(
            "  first render in Chromium, 1,000 runs",
            median(first),
            "s",
            "an empty page",
            median(empty),
            1.0,
        )
        _render(page, big, 1)
        actions = page.evaluate("""() => {
            const scroller = document.getElementById('table-scroll');
            const header = document.querySelector("#runs-table th[data-key='metrics.acc']");
            const sorts = [], scrolls = [], numbers = [];
            for (let i = 0; i < 7; i++) {
              let t = performance.now(); header.click(); document.body.offsetHeight;
              sorts.push(performance.now() - t);
              t = performance.now(); scroller.scrollTop = (i + 1) * 30000;
              scroller.dispatchEvent(new Event('scroll')); document.body.offsetHeight;
              scrolls.push(performance.now() - t);
              const values = Array.from({length: 10000}, (_, k) => (k * 7919) % 10007);
              t = performance.now(); values.sort((a, b) => a - b);
              numbers.push(performance.now() - t);
            }
            const mid = (v) => v.sort((a, b) => a - b)[3];
            return [mid(sorts), mid(scrolls), mid(numbers)];
        }""")
        browser.close()
    sort_ms, scroll_ms, numbers_ms = actions
    # Sorting 10,000 numbers in the page is shown for the browser's speed, not divided by:
    # the table's sort redraws rows, which no array sort does.
    scale = f"sorting 10,000 numbers there: {numbers_ms:.1f} ms"
    met &= absolute("  sort the 10,000-run table", sort_ms, "ms", 100.0, scale)
    met &= absolute("  scroll it", scroll_ms, "ms", 100.0, scale)
    return met


def _imports(repeat: int) -> bool:
    python = [sys.executable, "-c"]
    bare = timed(lambda: subprocess.run([*python, "pass"], check=True, env=ENV), repeat)
    imported = timed(
        lambda: subprocess.run([*python, "import expman"], check=True, env=ENV), repeat
    )
    print(
        f"  import expman: {max(0.0, 1000 * (median(imported) - median(bare))):.1f} ms more than "
        f"python -c pass ({1000 * median(bare):.1f} ms)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        probe = (
            "import json, os, time, expman\n"
            "t = time.perf_counter()\n"
            "for i in range(100000): expman.log(step=i, loss=0.5)\n"
            "ours = time.perf_counter() - t\n"
            "fd = os.open(os.environ['EXPMAN_METRICS'] + '.plain', os.O_WRONLY | os.O_CREAT)\n"
            "t = time.perf_counter()\n"
            "for i in range(100000):\n"
            "    os.write(fd, (json.dumps({'step': i, 'loss': 0.5}) + '\\n').encode())\n"
            "print(ours, time.perf_counter() - t)"
        )
        done = subprocess.run(
            [*python, probe],
            capture_output=True,
            text=True,
            check=True,
            env={**ENV, "EXPMAN_METRICS": f"{tmp}/s.jsonl"},
        )
    ours, plain = (float(x) / 100_000 * 1e6 for x in done.stdout.split())
    return report("  expman.log, one call", ours, "us", "json.dumps + one os.write", plain, 50.0)


def main(repeat: int = 5, series_rounds: int = 3) -> bool:
    """Measure and print; True when every target is met."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        met = _series_end(work, series_rounds)
        plain = cloned_archive(work / "plain", 10_000)  # 10,000 runs without series
        met &= _summaries(work, plain, repeat)
        met &= _reports(work, plain, repeat)
        met &= _imports(11)
    return met


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)

"""Screenshots of the report for docs/images/, from the shipped lr-study example.

The example is copied to a temporary folder, its named sweep `lr-grid` is run there
(failing points included), and the report of that archive is opened in Debian's Chromium
through Playwright; one PNG per view, each opened by its URL fragment as a link would.
`doit screenshots` runs this, so the pictures in the user guide show what the current
code draws.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VIEWS = {  # picture -> the fragment that opens its view
    "runs": "tab=runs&sort=metrics.acc&desc=1",
    "scatter": "tab=scatter&x=vars.LR&y=series.test_accuracy.max",
    "parallel": "tab=parallel",
    "heatmap": "tab=heatmap",
    "curves": "tab=curves&metrics=loss,test_accuracy&group=LR&smooth=0.6",
    "curves-grouped": "tab=curves&metrics=loss&by=LR&log=1",
    "diff": "tab=diff&runs=0001,0004,0007",
    "run": "tab=run&run=0004",
}
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def main(destination: Path) -> None:
    from playwright.sync_api import sync_playwright

    expman = str(Path(sys.executable).parent / "expman")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "lr-study"
        shutil.copytree(REPO / "examples" / "lr-study", root)
        for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "lr-study"]):
            subprocess.run(
                ["git", "-c", "user.name=docs", "-c", "user.email=docs@example.invalid", *command],
                cwd=root,
                check=True,
            )
        subprocess.run([expman, "sweep", "lr-grid", "--jobs", "2"], cwd=root, capture_output=True)
        subprocess.run([expman, "report"], cwd=root, check=True, capture_output=True)
        destination.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
            for name, fragment in VIEWS.items():
                page = browser.new_page(viewport={"width": 1200, "height": 660})
                page.goto((root / "report.html").as_uri() + "#" + fragment)
                page.wait_for_selector("body[data-ready='1']")
                page.wait_for_timeout(150)
                page.screenshot(path=str(destination / f"report-{name}.png"))
                page.close()
            browser.close()
    print(f"screenshots in {destination}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "images")

"""`expman report`: the file itself (same bytes, self-contained, --where, --watch)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

from tests.report.conftest import BIN, expman


def _data(page: str) -> dict:  # type: ignore[type-arg]
    found = re.search(r'<script type="application/json" id="expman-data">(.*?)</script>', page)
    assert found is not None
    return json.loads(found.group(1))  # type: ignore[no-any-return]


def test_the_same_archive_gives_the_same_bytes(study: Path) -> None:
    expman(study, "report", "-o", "a.html")
    expman(study, "report", "-o", "a2.html")
    first = (study / "a.html").read_bytes()
    assert first == (study / "a2.html").read_bytes()
    page = first.decode()
    assert (
        "<script src" not in page
        and "<link" not in page
        and "http://" not in page.split('id="expman-data"')[0].replace("http://www.w3.org", "")
    )
    assert "</script>alert" not in page, "text from records cannot end the data's element"
    data = _data(page)
    assert [r["id"] for r in data["runs"]] == ["0001", "0002", "0003", "0004"]
    assert data["runs"][0]["folder"] == "runs/0001/"
    assert sorted(data["curves"]) == ["loss"]
    assert len(data["sweeps"]["s0001"]) == 6
    expman(study, "note", "1", "-m", "looked at it")
    expman(study, "report", "-o", "a2.html")
    assert (study / "a2.html").read_bytes() != first


def test_where_keeps_some_runs_and_links_follow_the_output(study: Path) -> None:
    (study / "out").mkdir(exist_ok=True)
    done = expman(study, "report", "-o", "out/r.html", "--where", "status=='succeeded'")
    assert done.returncode == 0 and "3 runs" in done.stdout
    data = _data((study / "out" / "r.html").read_text())
    assert [r["folder"] for r in data["runs"]] == [
        "../runs/0001/",
        "../runs/0002/",
        "../runs/0004/",
    ]
    bad = expman(study, "report", "--where", "status==", check=False)
    assert bad.returncode == 2 and "status==" in bad.stderr
    bad = expman(study, "report", "-o", "nowhere/r.html", check=False)
    assert bad.returncode == 2 and "no folder" in bad.stderr


def test_watch_rewrites_the_page_as_runs_progress_and_ctrl_c_ends_it(study: Path) -> None:
    target = study / "watched.html"
    watching = subprocess.Popen(
        [str(BIN / "expman"), "report", "-o", "watched.html", "--watch", "--every", "0.2"],
        cwd=study,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not target.exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert '<meta http-equiv="refresh"' in target.read_text()
        count = len(_data(target.read_text())["runs"])
        expman(study, "run", "-s", "STEP=9")
        while len(_data(target.read_text())["runs"]) == count:
            assert time.monotonic() < deadline, "the new run never reached the page"
            time.sleep(0.05)
    finally:
        watching.send_signal(signal.SIGINT)
        out, err = watching.communicate(timeout=30)
    assert watching.returncode == 0, err
    assert "no longer reloading" in out
    assert '<meta http-equiv="refresh"' not in target.read_text()
    expman(study, "end", "-m", "done")

"""`expman report`: the file itself (same bytes, self-contained, --where, --watch)."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from expman.report.data import gather
from expman.report.page import render
from expman.store.archive import Archive
from tests.report.conftest import BIN, LINK_ID, expman


def _data(page: str) -> dict:  # type: ignore[type-arg]
    found = re.search(r'<script type="application/json" id="expman-data">(.*?)</script>', page)
    assert found is not None
    return json.loads(found.group(1))  # type: ignore[no-any-return]


@pytest.mark.slow
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


@pytest.mark.slow
def test_ids_links_curves_and_sweeps_come_from_folders_never_from_records(
    hostile: Path,
) -> None:
    """Run 0003's record says its sweep is a path out of the sweeps folder: the page
    knows it as 0003, links to 0003/, reads its curves from 0003/, and reads no sweep but
    s0001. Folder 0004's record says its id is a `javascript:` URL: it is damaged, so
    the page leaves it out and the URL appears nowhere."""
    expman(hostile, "report", "-o", "runs/report.html")  # inside the archive: no prefix
    page = (hostile / "runs" / "report.html").read_text()
    data = _data(page)
    assert [r["id"] for r in data["runs"]] == ["0001", "0002", "0003"]
    assert [r["folder"] for r in data["runs"]] == ["0001/", "0002/", "0003/"]
    assert [r["logs"] for r in data["runs"]] == ["0001/logs/", "0002/logs/", "0003/logs/"]
    assert LINK_ID not in page
    curves = data["curves"].values()  # one series name per TEXT
    assert sorted(run for curve in curves for run in curve["runs"]) == ["0001", "0002", "0003"]
    assert list(data["sweeps"]) == ["s0001"]
    assert [r["sweep"]["id"] if r["sweep"] else None for r in data["runs"]][2] == (
        "../sweeps/s0001"  # shown as text; nothing is read there
    )


def test_the_path_to_the_archive_is_percent_encoded_in_links(tmp_path: Path) -> None:
    """An archive folder named like a URL scheme stays a relative link."""
    folder = tmp_path / "javascript:alert(1);x=" / "0001"
    folder.mkdir(parents=True)
    (folder / "run.json").write_text('{"id": "0001", "status": "succeeded"}')
    found = gather(Archive(folder.parent), None, tmp_path)
    assert found["runs"][0]["folder"] == "javascript%3Aalert%281%29%3Bx%3D/0001/"


def test_curves_at_the_ends_of_the_floats_make_a_report(tmp_path: Path) -> None:
    """Steps from -1.7e308 to 1.7e308 (their span is no float) and values whose sum is
    none: the report is written (it was an internal error), its data is JSON."""
    runs = tmp_path / "runs"
    for folder, steps in (("0001", [-1.7e308, 0, 1.7e308]), ("0002", [0, 1, 2])):
        (runs / folder).mkdir(parents=True)
        record = {"id": folder, "status": "succeeded", "series": {"loss": {"last": 1}}}
        (runs / folder / "run.json").write_text(json.dumps(record))
        curves = {"loss": {"step": steps, "value": [1.7e308, 1.7e308, -1.7e308]}}
        (runs / folder / "series.sampled.json").write_text(json.dumps(curves))
    data = gather(Archive(runs), None, tmp_path)
    grid = data["curves"]["loss"]["steps"]
    assert len(grid) == 200 and grid[0] < 0 < grid[-1] < 1.7e308
    assert data["curves"]["loss"]["runs"]["0001"][0] == 1.7e308
    page = render(data, "ends").decode()
    text = page.split('id="expman-data">', 1)[1].split("</script>")[0]
    json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in the page's data"))


@pytest.mark.slow  # the lab's sweep: 6 s
def test_images_are_inlined_within_the_budget_then_linked(lab: Path, tmp_path: Path) -> None:
    archive = Archive(lab / "runs")
    found = {r["id"]: r["images"] for r in gather(archive, None, lab)["runs"]}
    assert [i["path"] for i in found["0001"]] == ["curve.svg", "plot.png"]
    assert found["0001"][1]["src"].startswith("data:image/png;base64,iVBORw0KGgo")
    assert found["0004"] == []  # failed before fetch: no outputs
    png = (lab / "runs" / "0001" / "outputs" / "plot.png").stat().st_size
    svg = (lab / "runs" / "0001" / "outputs" / "curve.svg").stat().st_size
    budget = 2 * svg + png  # the first two runs' SVGs and one PNG
    limited = [
        i for r in gather(archive, None, lab, image_budget=budget)["runs"] for i in r["images"]
    ]
    assert ["src" in i for i in limited] == [True, True, True, False] + [False] * 6
    assert limited[3]["href"] == "runs/0002/outputs/plot.png"


@pytest.mark.slow
def test_an_image_named_by_a_record_is_never_read_through_a_link_or_out_of_the_run(
    lab: Path, tmp_path: Path
) -> None:
    """A copy of the lab's archive where run 0001's plot.png is a link to a PNG elsewhere,
    curve.svg is not an SVG, and the record names `../../0002/outputs/plot.png` and a
    `.png` with an empty part: nothing is inlined but what is the run's and what it says."""
    runs = tmp_path / "runs"
    shutil.copytree(lab / "runs", runs, symlinks=True)
    outputs = runs / "0001" / "outputs"
    outputs.chmod(0o755)
    for name in ("plot.png", "curve.svg"):
        (outputs / name).unlink()
    (tmp_path / "elsewhere.png").write_bytes((runs / "0002" / "outputs" / "plot.png").read_bytes())
    (outputs / "plot.png").symlink_to(tmp_path / "elsewhere.png")
    (outputs / "curve.svg").write_text("<html><script>alert(1)</script></html>")
    record = json.loads((runs / "0001" / "run.json").read_text())
    record["outputs"] += [
        {"path": "../../0002/outputs/plot.png", "size": 1, "sha256": "0" * 64},
        {"path": "a//b.png", "size": 1, "sha256": "0" * 64},
        {"path": "javascript:alert(1).png", "size": 1, "sha256": "0" * 64},
    ]
    (runs / "0001" / "run.json").write_text(json.dumps(record))
    found = gather(Archive(runs), None, tmp_path)["runs"][0]["images"]
    assert found == [
        {"path": "curve.svg", "href": "runs/0001/outputs/"},
        {
            "path": "javascript:alert(1).png",
            "href": "runs/0001/outputs/",  # no such file: its folder
        },
        {"path": "plot.png", "href": "runs/0001/outputs/"},  # a link: its folder
    ]

"""A real Chromium (Debian's, driven by Playwright), and an archive with a sweep in it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import git, missing

BIN = Path(sys.executable).parent

# A 3 x 2 grid of STEP and GOAL; STEP=2 fails at GOAL=10, so with --fail-fast (and one
# job) the points after it are never run: the heatmap has done, failed and missing cells.
STUDY = """\
version: 1
name: study
hypothesis: a larger STEP converges faster
vars: {STEP: 1, GOAL: 10}
stages:
  run:
    cmd: |
      for i in 0 1 2 3 4 5 6 7 8 9; do
        echo "{\\"step\\": $i, \\"loss\\": $(( (10 - i) * GOAL / STEP ))}" >> "$EXPMAN_METRICS"
      done
      echo "{\\"acc\\": 0.$STEP$GOAL}" > metrics.json
      test "$STEP$GOAL" != "210"
  fetch: {cmd: "cp metrics.json \\"$EXPMAN_OUTPUTS\\"/"}
metrics: outputs/metrics.json
"""

LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def chromium_or_skip() -> str:
    """Debian's Chromium, or a skip saying how to get it (a failure in CI)."""
    path = shutil.which("chromium")
    reason = None
    if path is None:
        reason = "chromium is not installed: run scripts/install-test-services (as root)"
    else:
        try:
            import playwright  # noqa: F401
        except ImportError:
            reason = "playwright is not installed: pip install -e '.[test]'"
    if reason is not None:
        missing(f"no browser for the browser tests: {reason}")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    executable = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=executable, args=LAUNCH_ARGS)
        yield launched
        launched.close()


def expman(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(BIN / "expman"), *args], cwd=root, capture_output=True, text=True, timeout=300
    )
    if check:
        assert done.returncode in (0, 1), done.stderr
    return done


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An experiment whose archive holds a sweep (done, failed, missing points) and one
    plain run with other vars."""
    root = tmp_path_factory.mktemp("report") / "study"
    root.mkdir()
    (root / "expfile.yaml").write_text(STUDY)
    (root / ".gitignore").write_text("/.expman/\n/outputs/\n/runs/\n/*.html\nmetrics.json\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "study")
    env_before = os.environ.get("EXPMAN_HEARTBEAT")
    done = expman(root, "sweep", "-s", "STEP=1..3", "-s", "GOAL=10,20", "--fail-fast")
    assert "failed" in done.stderr
    expman(root, "run", "-s", "STEP=7", "-s", "GOAL=70")
    expman(root, "end", "-m", "a run <script>alert(1)</script> outside the sweep")
    assert env_before == os.environ.get("EXPMAN_HEARTBEAT")
    return root


# Text that would run script if a page put it in as HTML, or ended its data's element.
# Each calls alert(): a test listens for dialogs.
def attack(where: str) -> str:
    return f"</script><img src=x onerror=\"alert('{where}')\"><svg onload=alert('{where}')>"


HOSTILE_STAGE = """\
import json, os, pathlib
text = os.environ["TEXT"]
with open(os.environ["EXPMAN_METRICS"], "a") as f:
    for step in range(3):
        f.write(json.dumps({"step": step, "series " + text: step * int(os.environ["N"])}) + "\\n")
pathlib.Path("metrics.json").write_text(json.dumps({"metric " + text: int(os.environ["N"])}))
"""

HOSTILE_EXPFILE = """\
version: 1
name: hostile
hypothesis: HYPOTHESIS
vars: {TEXT: plain, N: 1}
stages:
  run: {cmd: PYTHON stage.py}
  fetch: {cmd: "cp metrics.json \\"$EXPMAN_OUTPUTS\\"/"}
metrics: outputs/metrics.json
"""

LINK_ID = "javascript:alert('link')//"


@pytest.fixture(scope="session")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An archive whose records hold script everywhere the report shows text: runs 0001
    and 0002 are a sweep over two hostile values (hostile metric and series names, a
    hostile sweep hypothesis); run 0003 has hostile observations, a note and a tag, and
    its record was then edited by hand: its sweep id is a path out of the sweeps folder,
    and a var name, the experiment, the branch and a script's path are hostile. Folder
    0004 is a copy of 0003 whose record says its id is a `javascript:` URL: a damaged
    record, left out. Nothing in it may run in the report."""
    root = tmp_path_factory.mktemp("hostile-report") / "exp"
    root.mkdir()
    expfile = HOSTILE_EXPFILE.replace("PYTHON", sys.executable)
    (root / "expfile.yaml").write_text(expfile.replace("HYPOTHESIS", json.dumps(attack("hyp"))))
    (root / "stage.py").write_text(HOSTILE_STAGE)
    (root / ".gitignore").write_text("/.expman/\n/outputs/\n/runs/\n*.html\nmetrics.json\n")
    points = [{"TEXT": attack("sweep var"), "N": 1}, {"TEXT": attack("sweep var 2"), "N": 2}]
    (root / "points.jsonl").write_text("".join(json.dumps(p) + "\n" for p in points))
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "hostile")
    expman(root, "sweep", "-m", attack("sweep"), "--points", "points.jsonl")
    expman(root, "run", "-s", f"TEXT={json.dumps(attack('var'))}", "-s", "N=3")
    expman(root, "end", "-m", attack("observations"))
    expman(root, "note", "3", "-m", attack("note"))
    expman(root, "tag", "3", "+" + attack("tag"))
    path = root / "runs" / "0003" / "run.json"
    record = json.loads(path.read_text())
    record["sweep"] = {"id": "../sweeps/s0001", "index": 0}
    record["vars"][attack("var name")] = attack("var value")
    record["experiment"] = attack("experiment")
    record["code"]["branch"] = attack("branch")
    record.setdefault("scripts", []).append({"path": attack("script"), "sha256": "0" * 64})
    path.write_text(json.dumps(record))
    shutil.copytree(path.parent, path.parent.with_name("0004"), symlinks=True)
    record.update(id=LINK_ID, uid="f" * 32)
    (path.parent.with_name("0004") / "run.json").write_text(json.dumps(record))
    return root


LAB_STAGE = """\
import json, os, pathlib, struct, sys, zlib
lr, seed = float(os.environ["LR"]), int(os.environ["SEED"])
flag = pathlib.Path(FLAG)
fails = lr == 1 and seed == 2 and not flag.exists()  # once: the point is run again
with open(os.environ["EXPMAN_METRICS"], "a") as f:
    for step in range(50):
        if fails and step == 20:
            flag.write_text("failed once")
            sys.exit(1)
        loss = 10.0 ** (step / 2) if lr >= 100 else 1 / (1 + step * lr) + seed / 100
        acc = 1 - min(loss, 1) / 2
        point = {"step": step, "loss": loss, "acc": acc, "time": step * seed / 10}
        f.write(json.dumps(point) + "\\n")
pathlib.Path("metrics.json").write_text(json.dumps({"acc": acc}))
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
pixels = zlib.compress(b"\\x00" + b"\\xff\\x00\\x00" * 2 + b"\\x00" + b"\\x00\\x00\\xff" * 2)
header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
png = b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels)
png += chunk(b"IEND", b"")
pathlib.Path("plot.png").write_bytes(png)
pathlib.Path("curve.svg").write_text(
    '<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20" onload="alert(1)">'
    '<script>alert("svg script")</script><rect width="20" height="20" fill="red"/></svg>'
)
"""

LAB_EXPFILE = """\
version: 1
name: lab
hypothesis: a larger LR learns faster
vars: {LR: 0.1, SEED: 1}
stages:
  run: {cmd: PYTHON stage.py}
  fetch: {cmd: "cp metrics.json plot.png curve.svg \\"$EXPMAN_OUTPUTS\\"/"}
metrics: outputs/metrics.json
"""


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Runs 0001-0004: a sweep of LR (0.1, 1) x SEED (1, 2) logging `loss`, `acc` and
    `time` (seconds: SEED=2 takes twice as long) series, each with a PNG and an SVG (with
    script in it) among its outputs; the point LR=1 SEED=2 fails once at step 20, and
    `sweep --resume` runs it again as 0005. Run 0006 has LR=100: its loss diverges to
    1e24."""
    base = tmp_path_factory.mktemp("lab")
    root = base / "lab"
    root.mkdir()
    stage = LAB_STAGE.replace("FLAG", repr(str(base / "failed-once")))
    (root / "stage.py").write_text(stage)
    (root / "expfile.yaml").write_text(LAB_EXPFILE.replace("PYTHON", sys.executable))
    (root / ".gitignore").write_text(
        "/.expman/\n/outputs/\n/runs/\n*.html\nmetrics.json\nplot.png\ncurve.svg\n"
    )
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "lab")
    expman(root, "sweep", "-s", "LR=0.1,1", "-s", "SEED=1,2")
    expman(root, "sweep", "--resume", "s0001")
    expman(root, "run", "-s", "LR=100", "-s", "SEED=1")
    expman(root, "end")
    return root

"""The README: its generated expfile reference is current, its example messages are true."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from expman.expfile import loading, reference
from tests.conftest import REPO, RunCli, records


def test_readme_reference_is_current() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = reference.markdown(loading.schema())
    assert reference.splice(readme, table) == readme, "run `doit reference` and commit README.md"


def test_reference_lists_every_top_level_field() -> None:
    table = reference.markdown(loading.schema())
    for name in loading.schema()["properties"]:
        assert f"| `{name}` |" in table
    assert "| `stages.<stage>.deps` |" in table


def test_readme_error_example_is_what_validate_prints(
    tmp_path: Path, run_cli: RunCli, monkeypatch
) -> None:
    run_cli("init", str(tmp_path / "tour"))
    expfile = tmp_path / "tour" / "expfile.yaml"
    text = expfile.read_text().replace("\nhypothesis:", "\nhypotesis:")
    expfile.write_text(text.replace("script: run.sh ", "script: 42 "))
    monkeypatch.chdir(tmp_path / "tour")
    code, _, err = run_cli("validate")
    readme = (REPO / "README.md").read_text()
    shown = readme.split("$ expman validate\n", 1)[1].split("```", 1)[0]
    assert (code, err) == (2, shown)


def test_reliability_doc_names_real_tests() -> None:
    """Every test docs/reliability.md cites as proof exists."""
    import re

    text = (REPO / "docs" / "reliability.md").read_text()
    cited = 0
    for cell in re.findall(r"`(tests/[^`]+?\.py)(::[^`]+)?`((?:, `::[^`]+`)*)", text):
        path = REPO / cell[0]
        assert path.is_file(), cell[0]
        names = [cell[1], *re.findall(r"`(::[^`]+)`", cell[2])]
        for name in filter(None, names):
            cited += 1
            assert f"def {name.removeprefix('::')}(" in path.read_text(), f"{cell[0]}{name}"
    assert cited >= 25


def _tour_blocks() -> list[list[str]]:
    """The shell blocks of the README's five-minute tour, up to Slurm's, and the block of
    questions after it: each a list of command lines, comments left out."""
    readme = (REPO / "README.md").read_text()
    tour = readme.split("## A five-minute tour", 1)[1].split("When one machine is outgrown", 1)
    questions = readme.split("Then ask the history questions", 1)[1].split("```sh\n", 1)[1]
    blocks = [part.split("```", 1)[0] for part in tour[0].split("```sh\n")[1:]]
    blocks.append(questions.split("```", 1)[0])
    return [[_command(line) for line in block.splitlines() if _command(line)] for block in blocks]


def _command(line: str) -> str:
    """A line of a shell block without its comment (a `#` after two spaces)."""
    return re.split(r"\s{2,}#", line, maxsplit=1)[0].strip() if not line.startswith("#") else ""


def _steps(record: dict[str, Any]) -> dict[str, str]:
    return {s["name"]: s["status"] for s in record["stages"]}


@pytest.mark.slow
def test_the_tour_is_true_when_run(tmp_path: Path) -> None:
    """Every command of the README's tour runs, in order, and does what it says: the
    quoted expfile is init's, each comment's claim holds, the sweep is long enough to
    interrupt halfway, and the observations written are true of the runs."""
    blocks = _tour_blocks()
    assert blocks[0][0] == "expman init step-study && cd step-study"
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Tour",
        "GIT_AUTHOR_EMAIL": "tour@example.invalid",
        "GIT_COMMITTER_NAME": "Tour",
        "GIT_COMMITTER_EMAIL": "tour@example.invalid",
    }
    here = tmp_path

    def shell(line: str) -> subprocess.CompletedProcess[str]:
        nonlocal here
        script = f"set -e\n{line}\npwd > {tmp_path / 'cwd'}\n"
        done = subprocess.run(
            ["bash", "-c", script], cwd=here, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, (line, done.stderr)
        here = Path((tmp_path / "cwd").read_text().strip())
        return done

    for line in blocks[0]:
        shell(line)
    root = here
    quoted = (REPO / "README.md").read_text().split("```yaml\n", 1)[1].split("```", 1)[0]
    written = {_command(line) for line in (root / "expfile.yaml").read_text().splitlines()}
    assert {_command(line) for line in quoted.splitlines()} <= written

    iterate = blocks[1]
    shell(iterate[0])  # git
    shell(iterate[1])  # run 0001: pre-run, run, post-run
    (first,) = records(root)
    assert _steps(first) == {"pre-run:prepare": "ran", "run": "ran", "post-run": "ran"}
    shell(iterate[2])  # a second attempt of run 0001, with STEP=3
    (first,) = records(root)
    assert len(first["attempts"]) == 2 and first["vars"]["STEP"] == 3
    assert "pre-run:prepare" in shell(iterate[3]).stdout  # status: the pre-run step, and why
    shell(iterate[4])  # end: "STEP=3 overshoots the goal"
    (first,) = records(root)
    assert first["metrics"]["final"] > first["vars"]["GOAL"], "STEP=3 overshoots the goal"
    shell(iterate[5])  # run 0002: the unchanged pre-run step is skipped
    second = records(root)[1]
    assert _steps(second)["pre-run:prepare"] == "skipped"
    shell(iterate[6])  # doit: the same
    assert len(records(root)[1]["attempts"]) == 2

    sweep, resume, status, observe = blocks[2]
    started = subprocess.Popen(
        ["bash", "-c", sweep],
        cwd=root,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 300
    while sum(1 for r in records(root) if r.get("sweep") and r["status"] == "succeeded") < 2:
        assert time.monotonic() < deadline and started.poll() is None, "the sweep ended early"
        time.sleep(0.1)
    started.send_signal(signal.SIGINT)  # Ctrl-C halfway
    _, err = started.communicate(timeout=120)
    assert started.returncode == 130, err
    points = [r for r in records(root) if r.get("sweep")]
    assert any(r["status"] == "interrupted" for r in points), "points were in flight"
    assert sum(r["status"] == "succeeded" for r in points) < 9, "the sweep was cut halfway"
    shell(resume)
    shown = shell(status).stdout
    assert shown.rstrip().endswith("9 succeeded"), shown  # nine points, each with its run
    shell(observe)
    done = {
        (r["vars"]["STEP"], r["vars"]["GOAL"]): r["metrics"]["iterations"]
        for r in records(root)
        if r.get("sweep") and r["status"] == "succeeded"
    }
    for goal in (100, 200, 300):  # "STEP=3 needs a third of the iterations of STEP=1"
        assert 0 <= 3 * done[(3, goal)] - done[(1, goal)] < 3

    for line in blocks[3]:  # the questions
        shell(line)

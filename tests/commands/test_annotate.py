"""`expman note` and `expman tag`: added after the fact, never lost, never rewriting what the
run recorded."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from expman.store.archive import Archive
from tests.conftest import RunCli, records

Experiment = Callable[..., Path]
BIN = Path(sys.executable).parent

SIMPLE = """\
version: 1
name: notes
hypothesis: it works
tags: [baseline, sgd]
stages:
  run: {cmd: "true"}
  fetch: {cmd: "true"}
"""


def _ended(experiment: Experiment, run_cli: RunCli, runs: int = 1) -> Path:
    root = experiment(SIMPLE)
    for n in range(runs):
        assert run_cli("run")[0] == 0
        assert run_cli("end", "-m", f"observed {n}")[0] == 0
    return root


def test_notes_and_tags_are_added_with_time_and_author(
    experiment: Experiment, run_cli: RunCli
) -> None:
    root = _ended(experiment, run_cli)
    before = records(root)[0]
    assert run_cli("note", "1", "-m", "diverged after epoch 40")[0] == 0
    code, out, _ = run_cli("tag", "1", "+best", "-sgd")
    assert code == 0 and out == "run 0001: tags baseline, best\n"
    after = records(root)[0]
    assert after["tags"] == ["baseline", "best"]
    assert [n["text"] for n in after["notes"]] == ["diverged after epoch 40"]
    assert after["notes"][0]["author"].count("@") == 1
    assert after["tag_changes"][0]["add"] == ["best"]
    assert after["tag_changes"][0]["remove"] == ["sgd"]
    for key, value in before.items():
        if key != "tags":
            assert after[key] == value, key  # what the run recorded is as it was
    files = sorted((root / "runs" / "0001" / "annotations").iterdir())
    assert len(files) == 2, "each addition is a file of its own"
    assert json.loads(run_cli("query", "[?contains(tags, 'best')].id")[1]) == ["0001"]
    code, out, _ = run_cli("list", "--tag", "best", "--tag", "baseline")
    assert code == 0 and "0001" in out
    assert "0001" not in run_cli("list", "--tag", "sgd")[1]


def test_the_latest_change_of_a_tag_wins(experiment: Experiment, run_cli: RunCli) -> None:
    root = _ended(experiment, run_cli)
    run_cli("tag", "1", "+x")
    run_cli("tag", "1", "-x", "-baseline")
    run_cli("tag", "1", "+baseline")
    assert records(root)[0]["tags"] == ["baseline", "sgd"]  # recorded order kept


def test_bad_tag_words_are_refused(experiment: Experiment, run_cli: RunCli) -> None:
    _ended(experiment, run_cli)
    assert run_cli("tag", "1")[0] == 2
    code, _, err = run_cli("tag", "+best")
    assert code == 2 and "name the runs to tag" in err
    code, _, err = run_cli("note", "1", "-m", "  ")
    assert code == 2 and "the note is empty" in err


def _annotator(root: str, who: int, count: int) -> None:
    for n in range(count):
        subprocess.run(
            [str(BIN / "expman"), "note", "1", "-m", f"note {who}.{n}"],
            cwd=root,
            check=True,
            capture_output=True,
        )


def _runner(root: str, seconds: float) -> None:
    """Rewrites the record over and over, as a runner does with its copy in memory."""
    import time

    archive = Archive(Path(root) / "runs")
    stale = archive.read("0001")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        archive.write(stale)


@pytest.mark.slow
def test_annotating_at_once_never_loses_a_word(experiment: Experiment, run_cli: RunCli) -> None:
    root = _ended(experiment, run_cli)
    spawn = multiprocessing.get_context("spawn")
    writers = [spawn.Process(target=_annotator, args=(str(root), w, 5)) for w in range(6)]
    runner = spawn.Process(target=_runner, args=(str(root), 3.0))
    for process in [runner, *writers]:
        process.start()
    for process in [runner, *writers]:
        process.join(timeout=120)
        assert process.exitcode == 0
    notes = sorted(n["text"] for n in records(root)[0]["notes"])
    assert notes == sorted(f"note {w}.{n}" for w in range(6) for n in range(5))


def test_notes_are_never_written_nor_read_through_a_link(
    experiment: Experiment, run_cli: RunCli, tmp_path: Path
) -> None:
    """A run folder from elsewhere (an earlier version pulled links as they stood) may
    hold `annotations/` linked to a private folder, or an annotation linked to a file."""
    root = _ended(experiment, run_cli, runs=2)
    private = tmp_path / "private"
    private.mkdir()
    (private / "secret.json").write_text('{"note": "a private secret"}')
    (root / "runs" / "0001" / "annotations").symlink_to(private)
    code, _, err = run_cli("note", "1", "-m", "through the link")
    assert code == 2 and "its annotations folder is a link" in err
    assert [p.name for p in private.iterdir()] == ["secret.json"]
    (root / "runs" / "0002" / "annotations").mkdir()
    (root / "runs" / "0002" / "annotations" / "0-x.json").symlink_to(private / "secret.json")
    assert run_cli("note", "2", "-m", "mine")[0] == 0
    assert [n["text"] for n in records(root)[1]["notes"]] == ["mine"]


@pytest.mark.parametrize(
    "words",
    [
        ["--archive", "kept", "1", "+x", "-sgd"],
        ["1", "--archive=kept", "+x", "-sgd"],
        ["1", "+x", "--archive", "kept", "-sgd"],
        ["1", "+x", "-sgd", "--archive=kept"],
        ["1", "-sgd", "--archive", "kept", "+x"],
    ],
)
def test_tag_options_go_before_between_or_after_the_changes(
    experiment: Experiment, run_cli: RunCli, words: list[str]
) -> None:
    root = _ended(experiment, run_cli)
    (root / "runs").rename(root / "kept")  # found only through --archive
    code, out, err = run_cli("tag", *words)
    assert (code, out, err) == (0, "run 0001: tags baseline, x\n", "")
    (change,) = records(root, "kept")[0]["tag_changes"]
    assert (change["add"], change["remove"]) == (["x"], ["sgd"])


def test_a_folder_named_tag_is_no_run_name(experiment: Experiment, run_cli: RunCli) -> None:
    root = _ended(experiment, run_cli)
    folder = root.rename(root.parent / "tag")
    os.chdir(folder.parent)
    code, out, err = run_cli("-C", "tag", "tag", "1", "+x")
    assert (code, out, err) == (0, "run 0001: tags baseline, sgd, x\n", "")


def test_an_unknown_option_among_tags_is_refused(experiment: Experiment, run_cli: RunCli) -> None:
    _ended(experiment, run_cli)
    code, out, err = run_cli("tag", "1", "+x", "--bogus")
    assert (code, out) == (2, "")
    assert err.startswith("expman: unrecognized arguments: --bogus\nusage: expman ")

"""The stable entry points of expman's own processes (`python -m expman _point ...`): what
they run, that no `--help` shows them, and that they cost a point no start-up time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from expman import entries


def _imported(*command: str, cwd: Path) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run `python -X importtime COMMAND`: what it did, and the modules it imported."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    names = {
        line.rsplit("|", 1)[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return done, names


def _said(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in done.stderr.splitlines() if not line.startswith("import time:")]


@pytest.mark.parametrize("name", sorted(entries.MODULES))
def test_an_entry_point_runs_its_module_and_imports_what_its_module_alone_does(
    tmp_path: Path, name: str
) -> None:
    """`python -m expman NAME` dispatches before the command line is imported: the modules it
    loads are those of `python -m MODULE` (and `expman.entries`), nothing of `expman.cli`
    that the module does not import itself; it fails as the module fails, saying the same."""
    args = [str(tmp_path / "no-experiment"), str(tmp_path / "no-archive"), "s0001", "0"]
    by_name, named = _imported("-m", "expman", name, *args, cwd=tmp_path)
    by_module, direct = _imported("-m", entries.MODULES[name], *args, cwd=tmp_path)
    assert by_name.returncode == by_module.returncode != 0, by_name.stderr
    said = _said(by_name)
    assert said == _said(by_module), said
    assert any(line.startswith("expman: ") for line in said), said
    assert named - direct <= {"expman.entries", "expman.__main__"}, named - direct
    if not entries.MODULES[name].startswith("expman.cli"):
        assert not {m for m in named if m.startswith("expman.cli")}


def test_the_entry_points_are_hidden_and_only_theirs() -> None:
    """`--help` names no entry point; a name that is none is refused, never run."""
    shown = subprocess.run(
        [sys.executable, "-m", "expman", "--help"], capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0 and "_point" not in shown.stdout
    assert entries.command(entries.POINT, "a")[1:] == ["-m", "expman", "_point", "a"]
    with pytest.raises(ValueError, match="no entry point"):
        entries.command("expman.sweeps.point")


@pytest.mark.parametrize("name", [entries.POINT, entries.ARRAY_TASK, entries.SEARCH_TASK])
@pytest.mark.parametrize("given", [[], ["one"], ["a", "b", "c", "not-a-number", "x", "y", "z"]])
def test_an_entry_point_given_the_wrong_arguments_says_its_usage_with_exit_2(
    tmp_path: Path, name: str, given: list[str]
) -> None:
    """Wrong arguments are bad input (exit 2, the usage named), never a traceback of a bug."""
    done = subprocess.run(
        [sys.executable, "-m", "expman", name, *given],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SLURM_ARRAY_TASK_ID": "0"},
    )
    assert done.returncode == 2, done.stderr
    assert f"python -m expman {name} " in done.stderr and "Traceback" not in done.stderr

"""Shared fixtures: a project folder, the CLI run in-process, and a guard on stray writes."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from expman.cli import main

REPO = Path(__file__).resolve().parent.parent

MINIMAL = """\
version: 1
name: demo
vars:
  LR: 0.01
stages:
  run: {cmd: "echo run"}
  fetch: {cmd: "true"}
"""

RunCli = Callable[..., tuple[int, str, str]]


def _repo_status() -> str:
    result = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout


@pytest.fixture(scope="session", autouse=True)
def _repository_untouched() -> Iterator[None]:
    """Fail the session if the tests changed the checkout (like pre-commit's home guard)."""
    before = _repo_status()
    yield
    after = _repo_status()
    assert after == before, f"tests changed the repository:\n{after}"


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Point HOME and the XDG folders at a temporary folder, so nothing lands in the real ones."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
        monkeypatch.setenv(name, str(home / name.lower()))
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("EDITOR", raising=False)
    monkeypatch.delenv("VISUAL", raising=False)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with a minimal valid expfile; the test runs inside it."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "expfile.yaml").write_text(MINIMAL, encoding="utf-8")
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> RunCli:
    """Call `expman` in-process: `run_cli("validate")` -> (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def in_ci() -> bool:
    """CI must run every test: what a developer may skip, CI treats as a failure."""
    return os.environ.get("CI", "") not in ("", "0", "false")


@pytest.fixture(autouse=True)
def _restore_cwd() -> Iterator[None]:
    """Commands chdir to the experiment, as the real CLI does: undo it after each test."""
    before = Path.cwd()
    yield
    os.chdir(before)

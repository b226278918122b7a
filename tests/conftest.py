"""Shared fixtures: a project folder, the CLI run in-process, and a guard on stray writes."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from expman.cli.main import main

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


def required(module: str, reason: str) -> Any:
    """`module`, imported; a test extra missing here skips the test, and fails it in CI
    (which installs every extra)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        missing(f"{module} is not installed: {reason}")


def missing(message: str) -> NoReturn:
    """What a test does without what it needs: skip here, fail in CI (which installs every
    extra and service), the reason printed either way."""
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message, allow_module_level=True)


@pytest.fixture(autouse=True)
def _restore_cwd() -> Iterator[None]:
    """Commands chdir to the experiment, as the real CLI does: undo it after each test."""
    before = Path.cwd()
    yield
    os.chdir(before)


def git(root: Path, *args: str) -> str:
    """Run git in `root` with a fixed identity; return its stdout."""
    result = subprocess.run(
        [
            "git",
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.invalid",
            "-c",
            "init.defaultBranch=main",
            *args,
        ],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def records(root: Path, archive: str = "runs") -> list[dict[str, Any]]:
    """Every run.json of an archive, oldest first."""
    folder = root / archive
    ids = sorted((p for p in folder.glob("[0-9]*") if p.is_dir()), key=lambda p: int(p.name))
    return [json.loads((p / "run.json").read_text()) for p in ids]


def age(path: Path, seconds: float = 60) -> None:
    """Make a record look `seconds` older, so that the record cache keeps it (it keeps
    none modified in its last seconds), and wait until the file system stamps changes
    later than this one (nor any changed in the clock tick its reading starts in)."""
    past = path.stat().st_mtime - seconds
    os.utime(path, (past, past))
    changed = path.stat().st_ctime_ns
    probe = path.with_name(".clock")
    while True:
        probe.touch()
        if probe.stat().st_ctime_ns > changed:
            break
        time.sleep(0.001)  # a coarse clock: one tick is a few milliseconds
    probe.unlink()


def objects_match_their_names(archive: Path) -> None:
    """Every store object of the archive still holds the content its name says."""
    from expman.store.objects import hash_file

    for path in (archive / ".objects").glob("??/*"):
        assert hash_file(path) == path.parent.name + path.name, f"{path} was changed"


def steps(record: dict[str, Any]) -> dict[str, str]:
    """{step name: status} of a record's latest attempt."""
    return {s["name"]: s["status"] for s in record["stages"]}


@pytest.fixture
def experiment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Path]:
    """`experiment(expfile_text)`: a git repository holding that expfile, committed; cwd."""
    root = tmp_path / "exp"
    root.mkdir()
    monkeypatch.chdir(root)

    def make(text: str, **files: str) -> Path:
        (root / "expfile.yaml").write_text(text)
        (root / ".gitignore").write_text("/.expman/\n/outputs/\n/runs/\n")
        for name, content in files.items():
            path = root / name.replace("__", "/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        git(root, "init", "-q")
        git(root, "add", "-A")
        git(root, "commit", "-qm", "start")
        return root

    return make


def points_alive(under: Path) -> list[int]:
    """The sweep point processes working under `under`: other tests' points are not counted.

    A point is found by its process name (a forked point) or its command line (a spawned
    one), and counted only when its working folder lies under `under`, so that tests run
    side by side on one machine never see each other's points.
    """
    found: set[int] = set()
    for command in (["pgrep", "-x", "expman-point"], ["pgrep", "-f", "expman _point"]):
        listed = subprocess.run(command, capture_output=True, text=True, check=False).stdout
        found.update(int(pid) for pid in listed.split())
    return sorted(pid for pid in found if _works_under(pid, under.resolve()))


def _works_under(pid: int, folder: Path) -> bool:
    try:
        cwd = Path(f"/proc/{pid}/cwd").readlink()
    except OSError:  # gone already, or not ours to read
        return False
    return cwd == folder or folder in cwd.parents

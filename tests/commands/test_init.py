"""`expman init`: a working experiment, and nothing the user had is lost."""

from __future__ import annotations

from pathlib import Path

import yaml

from expman.expfile import loading
from tests.conftest import REPO, RunCli


def test_init_writes_a_valid_experiment(tmp_path: Path, run_cli: RunCli) -> None:
    code, out, err = run_cli("init", str(tmp_path / "lr study"))
    assert (code, err) == (0, "")
    root = tmp_path / "lr study"
    config = loading.load(root / "expfile.yaml")
    assert config.name == "lr-study"
    first = (root / "expfile.yaml").read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=expfile.schema.json"
    assert str(tmp_path) not in (root / "expfile.yaml").read_text()
    assert (root / "expfile.schema.json").read_bytes() == (
        REPO / "expfile.schema.json"
    ).read_bytes()
    assert (root / "run.sh").stat().st_mode & 0o111
    ignored = (root / ".gitignore").read_text().splitlines()
    assert {"/.expman/", "/outputs/", "/runs/"} <= set(ignored)
    assert "wrote expfile.yaml" in out


def test_init_refuses_to_overwrite_without_force(project: Path, run_cli: RunCli) -> None:
    before = (project / "expfile.yaml").read_text()
    code, _, err = run_cli("init")
    assert code == 2
    assert "already exists; use --force" in err
    assert (project / "expfile.yaml").read_text() == before


def test_init_force_keeps_a_backup_and_existing_scripts(project: Path, run_cli: RunCli) -> None:
    before = (project / "expfile.yaml").read_text()
    (project / "run.sh").write_text("my own script\n")
    (project / ".gitignore").write_text("*.pyc")  # no final newline
    assert run_cli("init", "--force", "--name", "x")[0] == 0
    assert (project / "expfile.yaml.bak").read_text() == before
    assert (project / "run.sh").read_text() == "my own script\n"
    assert yaml.safe_load((project / "expfile.yaml").read_text())["name"] == "x"
    lines = (project / ".gitignore").read_text().splitlines()
    assert lines[0] == "*.pyc" and "/outputs/" in lines
    assert run_cli("init", "--force")[0] == 0
    assert (project / "expfile.yaml.bak.2").exists()
    assert (project / ".gitignore").read_text().count("/outputs/") == 1


def test_quickstart_example_is_what_init_writes(tmp_path: Path, run_cli: RunCli) -> None:
    run_cli("init", str(tmp_path / "quickstart"))
    example = REPO / "examples" / "quickstart"
    for name in ("expfile.yaml", "prepare.sh", "run.sh", "expfile.schema.json", ".gitignore"):
        assert (tmp_path / "quickstart" / name).read_text() == (example / name).read_text(), name


def test_every_example_has_the_dodo_shim_that_init_writes(tmp_path: Path, run_cli: RunCli) -> None:
    run_cli("init", str(tmp_path / "fresh"))
    shim = (tmp_path / "fresh" / "dodo.py").read_text()
    for example in sorted(p.parent for p in (REPO / "examples").glob("*/expfile.yaml")):
        assert (example / "dodo.py").read_text() == shim, example.name

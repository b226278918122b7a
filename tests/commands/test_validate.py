"""`expman validate` and the command line around it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from expman import __version__
from expman.cli import arguments
from tests.conftest import RunCli


def test_validate_finds_the_expfile_above(project: Path, run_cli: RunCli, monkeypatch) -> None:
    (project / "src").mkdir()
    monkeypatch.chdir(project / "src")
    code, out, err = run_cli("validate")
    assert (code, err) == (0, "")
    assert out == "../expfile.yaml: valid (1 vars; steps: run, fetch)\n"


def test_validate_with_dash_c(project: Path, run_cli: RunCli, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (project / "expfile.yaml").write_text("version: 1\nname: x\nstages: {fetch: {cmd: a}}\n")
    code, out, err = run_cli("-C", "project", "validate")
    assert (code, out) == (2, "")
    assert err == "project/expfile.yaml:3:1: $.stages: 'run' is a required property\n"


def test_dash_c_must_exist(run_cli: RunCli) -> None:
    code, _, err = run_cli("-C", "/nonexistent/dir", "validate")
    assert (code, err) == (2, "expman: -C /nonexistent/dir: no such directory\n")


def test_unknown_command_is_a_usage_error(run_cli: RunCli) -> None:
    code, _, err = run_cli("frobnicate")
    assert code == 2
    assert err.startswith("expman: argument COMMAND: invalid choice: 'frobnicate'")


def test_help_has_examples_on_every_command(run_cli: RunCli) -> None:
    import argparse

    from expman.cli.arguments import parser

    code, out, _ = run_cli("--help")
    assert code == 0 and "examples:" in out
    (commands,) = [a for a in parser()._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(commands.choices) == 25
    for command in commands.choices:
        code, out, _ = run_cli(command, "--help")
        assert code == 0 and f"examples:\n  expman {command}" in out, command


def test_version(run_cli: RunCli) -> None:
    assert run_cli("--version")[:2] == (0, f"expman {__version__}\n")


def test_schema_command(run_cli: RunCli) -> None:
    code, out, _ = run_cli("schema")
    assert code == 0 and '"$schema": "http://json-schema.org/draft-07/schema#"' in out
    code, out, _ = run_cli("schema", "--path")
    assert code == 0 and Path(out.strip()).name == "expfile.schema.json"


def test_python_dash_m_and_console_script(project: Path) -> None:
    for command in (
        [sys.executable, "-m", "expman"],
        [str(Path(sys.executable).parent / "expman")],
    ):
        result = subprocess.run([*command, "validate"], capture_output=True, text=True, check=False)
        assert (result.returncode, result.stdout) == (
            0,
            "expfile.yaml: valid (1 vars; steps: run, fetch)\n",
        )
        result = subprocess.run(
            [*command, "validate", "nope.yaml"], capture_output=True, text=True, check=False
        )
        assert result.returncode == 2 and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "-s", "LR=0.1", "--force", "--only", "run"],
        ["-C", "somewhere", "end", "-m", "seen"],
        ["-Csomewhere", "list", "--limit", "3", "-r"],
        ["tag", "last", "+good", "-bad"],
        ["query", "[].id", "--format", "csv"],
        ["sweep", "-s", "LR=0.1,0.2", "--jobs", "2"],
    ],
)
def test_parsing_one_command_gives_what_the_whole_grammar_gives(argv: list[str]) -> None:
    """`parse` builds the grammar of the command it runs alone (faster): the same answer."""
    whole = arguments.parser().parse_known_args(argv)[0]
    alone = arguments.parse(argv)
    for name, value in vars(whole).items():
        if argv[0] != "tag" or name != "words":
            assert getattr(alone, name) == value, name


def test_a_bad_option_is_told_with_the_usage(run_cli: RunCli) -> None:
    code, _, err = run_cli("run", "--no-such-option")
    assert code == 2
    assert err == (
        "expman: unrecognized arguments: --no-such-option\n"
        "usage: expman [-h] [--version] [-C DIR] COMMAND ...\n"
    )

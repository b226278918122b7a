"""The README: its generated expfile reference is current, its example messages are true."""

from __future__ import annotations

from pathlib import Path

from expman import config, reference
from tests.conftest import REPO, RunCli


def test_readme_reference_is_current() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = reference.markdown(config.schema())
    assert reference.splice(readme, table) == readme, "run `doit reference` and commit README.md"


def test_reference_lists_every_top_level_field() -> None:
    table = reference.markdown(config.schema())
    for name in config.schema()["properties"]:
        assert f"| `{name}` |" in table
    assert "| `stages.<stage>.deps` |" in table


def test_readme_error_example_is_what_validate_prints(
    tmp_path: Path, run_cli: RunCli, monkeypatch
) -> None:
    run_cli("init", str(tmp_path / "tour"))
    expfile = tmp_path / "tour" / "expfile.yaml"
    text = expfile.read_text().replace("\nhypothesis:", "\nhypotesis:")
    expfile.write_text(text.replace('cmd: cp results/* "$EXPMAN_OUTPUTS"/', "cmd: 42"))
    monkeypatch.chdir(tmp_path / "tour")
    code, _, err = run_cli("validate")
    readme = (REPO / "README.md").read_text()
    shown = readme.split("$ expman validate\n", 1)[1].split("```", 1)[0]
    assert (code, err) == (2, shown)

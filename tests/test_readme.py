"""The README: its generated expfile reference is current, its example messages are true."""

from __future__ import annotations

from pathlib import Path

from expman.expfile import config, reference
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

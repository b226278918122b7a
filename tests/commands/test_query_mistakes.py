"""Queries never answer "nothing" silently for a likely mistake: a warning on stderr names
the probable fix, and the answer (and exit 0) stay as they were."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests import cookbook
from tests.conftest import RunCli


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    before = Path.cwd()
    try:
        return cookbook.build(tmp_path_factory.mktemp("mistakes") / "lr-study")
    finally:
        os.chdir(before)


@pytest.fixture
def example(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "lr-study"
    shutil.copytree(built, root, symlinks=True)
    monkeypatch.chdir(root)
    return root


def test_a_field_in_the_wrong_case_is_named(example: Path, run_cli: RunCli) -> None:
    assert run_cli("query", "[?vars.lr > `0.01`].id") == (
        0,
        "[]\n",
        "expman: warning: no run has vars.lr: did you mean vars.LR?\n",
    )
    code, out, err = run_cli("query", "[?Status=='succeeded'].id")
    assert (code, out) == (0, "[]\n")
    assert err == "expman: warning: no run has Status: did you mean status?\n"


def test_a_bare_word_compared_is_taken_for_the_text(example: Path, run_cli: RunCli) -> None:
    assert run_cli("query", "[?status==succeeded].id") == (
        0,
        "[]\n",
        "expman: warning: succeeded is no field of any run, so it is null here: "
        "did you mean the text 'succeeded'?\n",
    )


def test_list_warns_about_where_sort_and_columns(example: Path, run_cli: RunCli) -> None:
    code, out, err = run_cli("list", "--where", "status==failed", "--format", "csv")
    assert (code, out) == (0, "value\n")  # no row, as before
    assert err == (
        "expman: warning: failed is no field of any run, so it is null here: "
        "did you mean the text 'failed'?\n"
    )
    code, out, err = run_cli("list", "--sort", "metrics.ACC", "--limit", "2", "--format", "csv")
    assert code == 0 and out.splitlines()[1].startswith("0001,")  # id order, as before
    assert err == (
        "expman: warning: no run has metrics.ACC: did you mean metrics.acc?\n"
        "expman: warning: --sort metrics.ACC: no run has it, so the runs are in id order\n"
    )
    code, _, err = run_cli("list", "--sort", "metrics.f1", "--columns", "vars.momentum")
    assert code == 0
    assert err == (
        "expman: warning: no run has vars.momentum: did you mean vars.MOMENTUM?\n"
        "expman: warning: --sort metrics.f1: no run has it, so the runs are in id order\n"
    )


def test_right_queries_raise_no_warning(example: Path, run_cli: RunCli) -> None:
    for args in (
        ["query", "[?vars.LR > `0.01`].id"],
        ["query", "[?status=='failed'].id"],
        ["query", "[].stages[?status=='ran'].name"],
        ["query", "max_by(@, &metrics.acc).{id: id, acc: metrics.acc}"],
        ["list", "--sort", "metrics.acc", "--where", "metrics.acc > `0.5`"],
        ["query", "[?sweep].id"],  # a field no run has, in any case: nothing to suggest
    ):
        code, _, err = run_cli(*args)
        assert (code, err) == (0, ""), args


def test_an_empty_archive_raises_no_warning(example: Path, run_cli: RunCli) -> None:
    assert run_cli("rm", *(str(n) for n in range(1, 7)))[0] == 0
    assert run_cli("query", "[?status == 'failed'].observations") == (0, "[]\n", "")
    assert run_cli("query", "[?status == failed].id") == (0, "[]\n", "")

"""`expman query` agrees with plain `jmespath.search` over the records, byte for byte, and
gives the same bytes every time: cold or warm cache, whatever fields were loaded, under
any PYTHONHASHSEED. The added functions (docs/records.md) are checked for what they say."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jmespath
import pytest

from tests import cookbook
from tests.conftest import RunCli

BIN = Path(sys.executable).parent

# Every JMESPath builtin function, every operator, and projections over whole records.
EXPRESSIONS = [
    "@",
    "[0]",
    "[-1]",
    "[].id",
    "[*].vars",
    "[].{id: id, lr: vars.LR, acc: metrics.acc}",
    "[?metrics.acc > `0.85`].id",
    "[?vars.LR == `0.05`]",
    "[?vars.LR != `0.05` && status == 'succeeded'].id",
    "[?status == 'failed' || vars.FAIL].id",
    "[?!(vars.MOMENTUM > `0`)].id",
    "[?metrics.acc >= `0.81` && metrics.acc <= `0.9`].metrics",
    "[?metrics.acc < `0.85`].observations",
    "[1:4].id",
    "[::2].id",
    "[::-1].id",
    "[0].attempts[0].stages[*].name",
    "[].attempts[].stages[].status",
    "[].stages[?status == 'ran'].name | []",
    "[*].tags[]",
    "[].[id, status]",
    "[0].vars.*",
    "[].vars | [0]",
    "[] | length(@)",
    "[0].keys(@)",
    "keys(@[0])",
    "values(@[0].vars)",
    "[0].values(metrics)",
    "abs(`-3`)",
    "avg([].metrics.acc)",
    "ceil(`1.2`)",
    "floor(`1.8`)",
    "contains([].status, 'failed')",
    "[?contains(hypothesis, 'rate')].id",
    "[?ends_with(observations, 'slow')].id",
    "[?starts_with(hypothesis, 'a ')].id",
    "join(', ', [].id)",
    "length([?status == 'succeeded'])",
    "map(&vars.LR, @)",
    "max([].metrics.acc)",
    "min([].metrics.loss)",
    "max_by([?metrics], &metrics.acc).id",
    "min_by([?metrics], &metrics.loss).id",
    "merge(@[0].vars, @[1].vars)",
    "not_null([0].nothing, [0].id)",
    "reverse([].id)",
    "sort([].vars.LR)",
    "sort_by(@, &vars.LR)[].id",
    "sort_by([?metrics], &metrics.acc)[-1]",
    "sum([].metrics.acc)",
    "to_array([0].id)",
    "to_string([0].vars)",
    "to_number('0.5')",
    "type(@)",
    "[].type(vars.LR)",
    "[0].type(@)",
    "@[?type(metrics) == 'object'].id",
    "[0].attempts[0]",
    "[0].code",
    "[].{id: id, n: length(attempts)}",
    "[].host.name | [0]",
    "[?id == '0003'] | [0].scripts",
    "`[1, 2.0, 3]`",
    "&id",
]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    before = Path.cwd()
    try:
        root = cookbook.build(tmp_path_factory.mktemp("agreement") / "lr-study")
    finally:
        os.chdir(before)
    for path in (root / "runs").glob("[0-9]*/run.json"):  # old enough to be cached
        past = path.stat().st_mtime - 60
        os.utime(path, (past, past))
    return root


@pytest.fixture
def example(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "lr-study"
    shutil.copytree(built, root, symlinks=True)
    shutil.rmtree(root / "runs" / ".cache", ignore_errors=True)
    monkeypatch.chdir(root)
    return root


def _records(root: Path) -> list[Any]:
    folders = sorted((root / "runs").glob("[0-9]*"), key=lambda p: int(p.name))
    return [json.loads((p / "run.json").read_text()) for p in folders]


def _expected(expression: str, records: list[Any]) -> str:
    try:
        result = jmespath.search(expression, records)
        return json.dumps(result, ensure_ascii=False, separators=(",", ":")) + "\n"
    except (jmespath.exceptions.JMESPathError, TypeError):  # TypeError: `&id` is no JSON
        return "error"


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_query_agrees_with_jmespath(example: Path, run_cli: RunCli, expression: str) -> None:
    expected = _expected(expression, _records(example))
    for cache in ("cold", "warm"):
        code, out, err = run_cli("query", expression)
        if expected == "error":
            assert code == 2, (cache, out, err)
        else:
            assert (code, err) == (0, ""), cache
            assert out == expected, cache


def test_whole_records_print_the_same_bytes_whichever_fields_were_loaded(
    example: Path, run_cli: RunCli
) -> None:
    """A query that names a few fields loads only those from the cache, then completes
    the records it prints: they must print as the record is, key order included."""
    whole = run_cli("query", "@")[1]
    assert whole == _expected("@", _records(example))
    for expression in ("[?vars.LR > `0`]", "[?metrics.acc]", "sort_by(@, &id)", "[*]"):
        assert run_cli("query", expression)[1] == whole, expression
    assert (
        run_cli("query", "[?vars.LR > `0`]", "--format", "csv")[1]
        == (run_cli("query", "@", "--format", "csv")[1])
    )


@pytest.mark.slow
def test_the_same_bytes_under_any_hash_seed(example: Path) -> None:
    outputs = set()
    for seed in ("0", "1", "12345", "random"):
        for expression in ("[?metrics.acc]", "keys(@[2])", "[?vars.LR > `0`]"):
            result = subprocess.run(
                [str(BIN / "expman"), "query", expression, "--format", "csv"],
                cwd=example,
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONHASHSEED": seed},
                check=True,
            )
            outputs.add((expression, result.stdout))
    assert len(outputs) == 3


def test_unique_and_group_by_agree_with_equality(example: Path, run_cli: RunCli) -> None:
    assert jmespath.search("`1` == `1.0`", None) is True
    assert json.loads(run_cli("query", 'unique(`[1, 1.0, 2.0, 2, true, "1"]`)')[1]) == [
        1,
        2.0,
        "1",
        True,
    ]
    groups = json.loads(run_cli("query", 'group_by(`[{"a": 1}, {"a": 1.0}, {"a": 2}]`, &a)')[1])
    assert groups == [[{"a": 1}, {"a": 1.0}], [{"a": 2}]]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("[::0]", "slice step cannot be zero"),
        ("[" * 1000 + "@" + "]" * 1000, "nested too deeply"),
        pytest.param(  # takes the 5 s it bounds
            '[?matches(`"' + "a" * 40 + "b\"`, '(a+)+$')]",
            "took more than 5 s",
            marks=pytest.mark.slow,
        ),
    ],
)
def test_queries_that_cannot_be_answered_say_why(
    example: Path, run_cli: RunCli, expression: str, message: str
) -> None:
    code, out, err = run_cli("query", expression)
    assert (code, out) == (2, "")
    assert message in err and "Traceback" not in err


def test_to_iso_of_a_time_beyond_year_9999(example: Path, run_cli: RunCli) -> None:
    assert run_cli("query", "to_iso(`1e20`)")[1] == '"9999-12-31T23:59:59.999Z"\n'


@pytest.mark.parametrize(
    ("expression", "first"),
    [
        ("[3].observations", lambda found: found),  # the records
        ("[?id == '0004'].observations", lambda found: found[0]),  # the columns alone
        ("[?id == '0004'].{o: observations}", lambda found: found[0]["o"]),
    ],
)
def test_cache_sees_an_edit_whose_size_and_mtime_were_put_back(
    example: Path, run_cli: RunCli, expression: str, first: Any
) -> None:
    """`cp -p` or `rsync -t`: the content changes in place, size and mtime as before."""
    assert first(json.loads(run_cli("query", expression)[1])) == "acc 0.9, no momentum"
    path = example / "runs" / "0004" / "run.json"
    info = path.stat()
    text = path.read_text()
    changed = text.replace('"acc 0.9, no momentum"', '"ACC 0.9, NO MOMENTUM"')
    assert len(changed) == len(text)
    with path.open("r+") as f:  # the same inode, as cp -p leaves it
        f.write(changed)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert path.stat().st_ino == info.st_ino and path.stat().st_size == info.st_size
    assert first(json.loads(run_cli("query", expression)[1])) == "ACC 0.9, NO MOMENTUM"

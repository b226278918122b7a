"""Sweep inputs: points files (pure), and what `expman sweep` makes of `-s`, `--random`,
`--gpus`, named sweeps and points files on the command line, without running a point."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from expman.errors import UsageError
from expman.sweeps.inputs import read_points
from expman.sweeps.plan import Definition, points
from tests.conftest import RunCli

Experiment = Callable[..., Path]
VARS = {"LR": 0.01, "OPT": "adam", "SEED": 0}


def test_listed_points_from_csv_and_jsonl() -> None:
    csv_points = read_points('LR,OPT\n1e-3,adam\n0.1,"sgd"\n', "points.csv", VARS)
    assert csv_points == ({"LR": 0.001, "OPT": "adam"}, {"LR": 0.1, "OPT": "sgd"})
    jsonl = read_points('{"LR": 0.001}\n\n{"LR": [1, 2]}\n', "points.jsonl", VARS)
    assert jsonl == ({"LR": 0.001}, {"LR": [1, 2]})
    plan = points(Definition(listed=csv_points), "g")
    assert [p.vars for p in plan] == list(csv_points)


def test_a_csv_saved_with_a_byte_order_mark_reads_as_without() -> None:
    """Spreadsheet programs start UTF-8 CSV with U+FEFF: the first var is still a var."""
    assert read_points("\ufeffLR,OPT\n0.1,sgd\n", "p.csv", VARS) == ({"LR": 0.1, "OPT": "sgd"},)
    assert read_points('\ufeff{"LR": 0.1}\n', "p.jsonl", VARS) == ({"LR": 0.1},)


def test_a_csv_value_with_a_nul_is_refused_with_its_place() -> None:
    """As in JSON Lines and the expfile: no environment can hold a NUL (the CSV point was
    planned, then failed to start with `exit 2, no run`)."""
    with pytest.raises(UsageError, match=r"p.csv:2: LR: contains a NUL character"):
        read_points("LR,OPT\n0.1\0,sgd\n", "p.csv", VARS)
    with pytest.raises(UsageError, match=r"p.csv:3: OPT: contains a NUL character"):
        read_points("LR,OPT\n0.1,sgd\n0.2,a: [\0]\n", "p.csv", VARS)


def test_a_json_points_file_is_a_list_of_points() -> None:
    """`.json` (as pandas writes records) is a list of objects; one object alone is refused
    with what was meant, never read as a CSV header with no points."""
    listed = read_points('[{"LR": 0.1}, {"LR": 0.2, "OPT": "sgd"}]', "p.json", VARS)
    assert listed == ({"LR": 0.1}, {"LR": 0.2, "OPT": "sgd"})
    with pytest.raises(UsageError, match=r"p.json: a JSON points file is a list of points"):
        read_points('{"LR": 0.1}', "p.json", VARS)
    with pytest.raises(UsageError, match=r"p.json: point 2: a point is a JSON object"):
        read_points('[{"LR": 0.1}, 3]', "p.json", VARS)
    with pytest.raises(UsageError, match=r"p.json: point 2: the same point as point 1"):
        read_points('[{"LR": 0.1}, {"LR": 0.1}]', "p.json", VARS)
    with pytest.raises(UsageError, match=r"p.json: point 1: no var named 'X'"):
        read_points('[{"X": 1}]', "p.json", VARS)


def test_an_endless_points_file_is_refused_not_read_into_memory(
    experiment: Experiment, run_cli: RunCli
) -> None:
    experiment(SWEEPS)
    code, _, err = run_cli("sweep", "--points", "/dev/zero", "--plan")
    assert code == 2
    assert "/dev/zero: larger than" in err


@pytest.mark.parametrize(
    ("text", "name", "message"),
    [
        ("LR\n0.1,2\n", "p.csv", "p.csv:2: 2 values for 1 vars"),
        ("MOMENTUM\n0.9\n", "p.csv", "p.csv:2: no var named 'MOMENTUM' (vars: LR)"),
        ("", "p.csv", "p.csv: no header line"),
        ("LR\n", "p.csv", "p.csv: no points"),
        ('{"LR": 1}\n[1]\n', "p.jsonl", "p.jsonl:2: a point is a JSON object"),
        ("{bad\n", "p.jsonl", "p.jsonl:1: not JSON"),
    ],
)
def test_bad_points_files_say_file_and_line(text: str, name: str, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_points(text, name, {"LR": 0.01})


@pytest.mark.parametrize(
    ("text", "name", "message"),
    [
        ("LR\n0.1\n0.2\n0.1\n", "p.csv", "p.csv:4: the same point as line 2 (LR=0.1)"),
        ("LR,SEED\n1,0\n1.0,0\n", "p.csv", "p.csv:3: the same point as line 2"),
        ('{"LR": 0.1}\n{"LR": 0.1, "SEED": 0}\n', "p.jsonl", "p.jsonl:2: the same point as line 1"),
        ("LR,LR\n1,2\n", "p.csv", "p.csv:1: the column LR is given twice"),
        ('{"LR": 1, "LR": 2}\n', "p.jsonl", "p.jsonl:1: LR is given twice"),
        ('{"LR": ' + "[" * 100_000 + "]" * 100_000 + "}\n", "p.jsonl", "p.jsonl:1: nested"),
        ('{"LR": ' + "[" * 40 + "]" * 40 + "}\n", "p.jsonl", "p.jsonl:1: LR: nested more than 32"),
        ('{"LR": null}\n', "p.jsonl", "p.jsonl:1: LR: null is not a value"),
        ('{"LR": "a\\u0000b"}\n', "p.jsonl", "p.jsonl:1: LR: contains a NUL character"),
        ('{"LR": 1e999}\n', "p.jsonl", "p.jsonl:1: 1e999 is out of range"),
        ('{"LR": NaN}\n', "p.jsonl", "p.jsonl:1: NaN is not a finite number"),
        ('{"LR": 1' + "0" * 400 + "}\n", "p.jsonl", "p.jsonl:1: 10000000000000000000... (401"),
        ('{"LR": ' + "9" * 5000 + "}\n", "p.jsonl", "p.jsonl:1: 99999999999999999999... (5,000"),
        ("LR\n" + "9" * 5000 + "\n", "p.csv", "p.csv:2: LR: 99999999999999999999... (5,000"),
        ("LR\n.nan\n", "p.csv", "p.csv:2: LR: .nan is not a finite number"),
        ("\nLR\n\n0.1\n\n0.1\n", "p.csv", "p.csv:6: the same point as line 4"),
        ('LR,OPT\n1,"a\nb"\n1,"a\nb"\n', "p.csv", "p.csv:5: the same point as line 3"),
        ("LR\n" + "x" * 200_000 + "\n", "p.csv", "p.csv:2: not CSV"),
    ],
)
def test_points_files_that_give_no_plan_of_distinct_points_say_file_and_line(
    text: str, name: str, message: str
) -> None:
    with pytest.raises(UsageError) as refused:
        read_points(text, name, VARS)
    assert message in str(refused.value)


SWEEPS = """\
version: 1
name: inputs
vars:
  LR: 0.01
  SEED: 0
sweeps:
  typo:
    vars:
      LR: logunifrom(1e-4,1e-1)
    random: 5
  twice:
    vars:
      LR: [1, 1.0]
  tiny:
    vars:
      SEED: int(1,2)
    random: 10
stages:
  run: {cmd: "true"}
  fetch: {cmd: "true"}
"""
TYPO = (
    "expfile.yaml:9:7: $.sweeps.typo.vars.LR: logunifrom() is not a distribution "
    "(uniform, loguniform, int, choice)\n  hint: did you mean loguniform(1e-4,1e-1)? "
    "To sweep the text itself, quote it: -s \"LR='logunifrom(1e-4,1e-1)'\"\n"
)
TWICE = (
    "expfile.yaml:13:7: $.sweeps.twice.vars.LR: 1 and 1.0 are the same value: "
    "a list gives each value once\n"
)
TINY = (
    "expfile.yaml:17:5: $.sweeps.tiny.random: the specs allow only 2 distinct points, "
    "fewer than the 10 asked: SEED=int(1,2) gives 2 values\n"
    "  hint: to run every combination once, make it a grid: no random points\n"
)


@pytest.fixture
def swept(experiment: Experiment) -> Path:
    return experiment(SWEEPS)


def test_the_user_guides_range_under_random_is_refused_saying_what_was_meant(
    swept: Path, run_cli: RunCli
) -> None:
    code, out, err = run_cli("sweep", "-s", "LR=1e-4..1e-1", "--random", "200", "--plan")
    assert (code, out) == (2, "")
    assert err == (
        "expman: --random 200: the specs allow only 1 distinct point, fewer than the 200 "
        "asked: LR=1e-4..1e-1 gives 1 value\n  hint: LR=1e-4..1e-1 is a range, and random "
        "points take one of its values: did you mean LR='uniform(1e-4,1e-1)' or "
        "LR='loguniform(1e-4,1e-1)'?\n"
    )
    assert not (swept / "runs").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-s", "LR=logunifrom(1e-4,1e-1)", "--random", "3"], "did you mean loguniform("),
        (["-s", "LR=1,2", "-s", "LR=3"], "LR is swept twice (-s LR=1,2 and -s LR=3)"),
        (["-s", "LR=1,1.0"], "-s LR=1,1.0: 1 and 1.0 are the same value"),
        (["-s", "SEED=int(1,2)", "--random", "10"], "SEED=int(1,2) gives 2 values"),
        (["-s", "LR=1e308..1e309"], "-s LR=1e308..1e309: 1e309 is out of range"),
        (["-s", "LR=" + "9" * 5000], "-s LR=99999999999999999999... (5,000 characters): 9"),
        (["-s", "LR=uniform(0,1)", "--random", "1000000000"], "more than 1,000,000"),
        (["-s", "LR=1,2", "--gpus", "0,0"], "argument --gpus: 0 is listed twice"),
        (["-s", "LR=1,2", "--gpus", "0,x"], "argument --gpus: 'x' is not a device index"),
        (["-s", "LR=1,2", "--gpus", "0,,1"], "argument --gpus: '' is not a device index"),
        (["-s", "LR=1,2", "--gpus-per-run", "2"], "--gpus-per-run 2: without --gpus"),
    ],
)
def test_sweep_inputs_that_give_no_plan_of_distinct_points_exit_2(
    swept: Path, run_cli: RunCli, args: list[str], message: str
) -> None:
    started = time.perf_counter()
    code, out, err = run_cli("sweep", *args, "--plan")
    assert (code, out) == (2, ""), err
    assert message in err and "Traceback" not in err
    assert time.perf_counter() - started < 30


def test_gpus_are_device_indexes_or_uuids(swept: Path, run_cli: RunCli) -> None:
    uuid = "GPU-8932f937-d72c-4106-c12f-20bd9faed9f6"
    code, _, err = run_cli("sweep", "-s", "LR=1,2", "--gpus", f"0,{uuid}", "--plan")
    assert code == 0, err


def test_named_sweeps_are_checked_and_their_problems_located(swept: Path, run_cli: RunCli) -> None:
    assert run_cli("sweep", "typo", "--plan")[::2] == (2, TYPO)
    assert run_cli("sweep", "twice", "--plan")[::2] == (2, TWICE)
    assert run_cli("sweep", "tiny", "--plan")[::2] == (2, TINY)
    code, _, err = run_cli("validate")
    assert (code, err) == (2, TYPO + TWICE + TINY)
    # What the command line gives in place of a var's spec is what is checked.
    code, out, err = run_cli("sweep", "typo", "-s", "LR=uniform(0,1)", "--plan")
    assert code == 0 and len(out.splitlines()) == 6, err
    code, _, err = run_cli("sweep", "tiny", "-s", "SEED=int(1,3)", "--plan")
    assert err.startswith(
        "expfile.yaml:17:5: $.sweeps.tiny.random: the specs allow only 3 distinct"
    )


def test_points_files_that_crashed_exit_2_with_file_and_line(swept: Path, run_cli: RunCli) -> None:
    (swept / "latin1.csv").write_bytes(b"LR\n0.1\ncaf\xe9\n")
    (swept / "deep.jsonl").write_text('{"LR": 1}\n{"LR": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    (swept / "columns.csv").write_text("LR,SEED,LR\n1,2,3\n")
    for name, message in [
        ("latin1.csv", "latin1.csv:3: not UTF-8 text"),
        ("deep.jsonl", "deep.jsonl:2: nested too deeply"),
        ("columns.csv", "columns.csv:1: the column LR is given twice"),
    ]:
        code, out, err = run_cli("sweep", "--points", name, "--plan")
        assert (code, out) == (2, "") and message in err, err


RANDOM = """\
version: 1
name: inputs
vars: {SEED: 0}
stages:
  run: {cmd: "true"}
  fetch: {cmd: "true"}
"""


def test_extending_a_random_sweep_keeps_its_points_distinct(
    experiment: Experiment, run_cli: RunCli
) -> None:
    root = experiment(RANDOM)
    assert run_cli("sweep", "-s", "SEED=int(1,4)", "--random", "2")[0] == 0
    code, out, err = run_cli("sweep", "--resume", "s0001", "--random", "4", "--plan")
    assert code == 0, err
    seeds = [int(line.split()[1]) for line in out.splitlines()[1:]]
    assert sorted(seeds) == [1, 2, 3, 4]
    code, _, err = run_cli("sweep", "--resume", "s0001", "--random", "5")
    assert code == 2 and "only 4 distinct points, fewer than the 5 asked" in err
    plan = (root / "runs" / "sweeps" / "s0001" / "plan.jsonl").read_text().splitlines()
    assert len({json.dumps(json.loads(line)["vars"]) for line in plan}) == len(plan) == 4

"""`expman query`, `list`, `show`, `diff`, and the record cache behind them."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from expman.store import index
from expman.store.archive import Archive
from tests import cookbook
from tests.conftest import RunCli, age, records


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    before = Path.cwd()
    try:
        return cookbook.build(tmp_path_factory.mktemp("query") / "lr-study")
    finally:
        os.chdir(before)


@pytest.fixture
def example(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the example experiment (tests edit its records); cwd."""
    root = tmp_path / "lr-study"
    shutil.copytree(built, root, symlinks=True)
    monkeypatch.chdir(root)
    return root


def _age_all(root: Path) -> None:
    for path in (root / "runs").glob("[0-9]*/run.json"):
        age(path)


def test_query_prints_compact_json_in_a_pipe(example: Path, run_cli: RunCli) -> None:
    code, out, err = run_cli("query", "[?metrics.acc > `0.85`].{id: id, acc: metrics.acc}")
    assert (code, err) == (0, "")
    assert out == '[{"id":"0003","acc":0.94},{"id":"0004","acc":0.9}]\n'


def test_query_table_and_csv(example: Path, run_cli: RunCli) -> None:
    expr = "[?vars.LR > `0.01`].{id: id, LR: vars.LR, note: observations}"
    assert run_cli("query", expr, "--format", "table")[1] == (
        "id    LR    note\n"
        "0002  0.05  faster, acc 0.85\n"
        "0003  0.05  best so far\n"
        "0004  0.1   acc 0.9, no momentum\n"
        "0006  0.05  same as run 2\n"
    )
    assert run_cli("query", "[].[id, status][:2]", "--format", "csv")[1] == (
        'value\n"[""0001"",""succeeded""]"\n"[""0002"",""succeeded""]"\n'
    )
    assert run_cli("query", "[:2].{id: id, tags: tags}", "--format", "csv")[1] == (
        'id,tags\n0001,"[""sgd""]"\n0002,"[""sgd""]"\n'
    )


def test_whole_records_come_out_complete(example: Path, run_cli: RunCli) -> None:
    """Only the fields an expression names are loaded; whole records must still be whole."""
    code, out, _ = run_cli("query", "[?id == '0002']")
    assert code == 0
    (record,) = json.loads(out)
    assert record == json.loads((example / "runs/0002/run.json").read_text())
    _, out, _ = run_cli("query", "[?id == '0002'] | [0] | keys(@) | length(@)")
    assert int(out) == len(record)
    _, out, _ = run_cli("query", "[?id == '0002'].to_string(@) | [0]")
    assert json.loads(json.loads(out)) == record


def test_syntax_error_points_at_the_place(example: Path, run_cli: RunCli) -> None:
    code, out, err = run_cli("query", "[?metrics.acc > `0.9`]].id")
    assert (code, out) == (2, "")
    assert err == (
        "expman: invalid query: unexpected ']'\n"
        "  [?metrics.acc > `0.9`]].id\n"
        "                        ^\n"
    )


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("nosuch(@)", "expman: cannot evaluate 'nosuch(@)': Unknown function: nosuch()\n"),
        ("[?matches(hypothesis, '(')]", "expman: matches(): bad regular expression '('"),
        (
            "[?started_epoch > to_epoch('yesterday')]",
            "expman: to_epoch(): not an ISO 8601 date or time: 'yesterday'\n",
        ),
    ],
)
def test_bad_evaluation_is_exit_2(
    example: Path, run_cli: RunCli, expression: str, message: str
) -> None:
    code, _, err = run_cli("query", expression)
    assert code == 2 and err.startswith(message)


def test_extra_functions(example: Path, run_cli: RunCli) -> None:
    assert json.loads(run_cli("query", "[0].to_iso(started_epoch)")[1]) == (
        "2026-11-01T00:00:00.000Z"
    )
    assert json.loads(run_cli("query", "length([?started_epoch > days_ago(`36500`)])")[1]) == 6
    assert json.loads(run_cli("query", "unique([].status)")[1]) == ["failed", "succeeded"]
    groups = json.loads(run_cli("query", "group_by(@, &status)[*].length(@)")[1])
    assert groups == [1, 5]


def test_damaged_record_is_reported_and_skipped(example: Path, run_cli: RunCli) -> None:
    (example / "runs/0004/run.json").write_text('{"id": "0004", "status": ')
    (example / "runs/0005/run.json").unlink()
    code, out, err = run_cli("query", "[].id")
    assert code == 0
    assert json.loads(out) == ["0001", "0002", "0003", "0006"]
    lines = err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"expman: skipped {example}/runs/0004/run.json: damaged record:")
    assert lines[1].startswith(f"expman: skipped {example}/runs/0005/run.json: damaged record:")
    code, out, err = run_cli("list")
    assert code == 0 and "0003" in out and "0004" not in out and "damaged record" in err


def test_cache_never_answers_stale(example: Path, run_cli: RunCli) -> None:
    _age_all(example)
    assert json.loads(run_cli("query", "[].id")[1])[-1] == "0006"
    assert list((example / "runs/.cache").rglob("index.marshal")), "the cache was written"
    # edited behind the cache's back, with a time older than the cache
    path = example / "runs/0002/run.json"
    record = json.loads(path.read_text())
    record["observations"] = "edited by hand"
    path.write_text(json.dumps(record))
    age(path, 3600)
    assert json.loads(run_cli("query", "[1].observations")[1]) == "edited by hand"
    # removed, and a new run added
    shutil.rmtree(example / "runs/0003")
    assert json.loads(run_cli("query", "[].id")[1]) == ["0001", "0002", "0004", "0005", "0006"]
    run_cli("run", "-s", "LR=0.2")
    assert json.loads(run_cli("query", "[-1].vars.LR")[1]) == 0.2
    # the same size and time as before, but another content: a new inode gives it away
    path = example / "runs/0004/run.json"
    info = path.stat()
    text = path.read_text()
    changed = text.replace('"acc 0.9, no momentum"', '"ACC 0.9, NO MOMENTUM"')
    assert len(changed) == len(text)
    replacement = path.with_name("new.json")
    replacement.write_text(changed)
    replacement.replace(path)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert json.loads(run_cli("query", "[?id=='0004'].observations | [0]")[1]) == (
        "ACC 0.9, NO MOMENTUM"
    )


def test_fresh_records_are_not_cached(example: Path) -> None:
    """A record written within the last seconds could change again unseen: no cache yet."""
    for path in (example / "runs").glob("[0-9]*/run.json"):
        os.utime(path)  # just now
    records, _ = index.load(Archive(example / "runs"), {"status"})
    assert len(records) == 6
    assert not (example / "runs/.cache").exists()


def test_cache_loads_only_named_fields(example: Path) -> None:
    _age_all(example)
    index.load(Archive(example / "runs"))  # builds the cache
    (lazy, *_), _ = index.load(Archive(example / "runs"), {"metrics"})
    assert set(dict.keys(lazy)) == {"id", "metrics"}
    assert lazy.get("observations") == "acc 0.81, slow"  # completes itself
    assert set(dict.keys(lazy)) > {"id", "metrics", "observations", "attempts"}


def test_the_largest_fields_are_cached_by_the_first_query_that_names_them(
    example: Path, run_cli: RunCli
) -> None:
    _age_all(example)
    segment = next((example / "runs/.cache").rglob("index.marshal"), None)
    assert segment is None
    assert run_cli("query", "[].id")[0] == 0
    (folder,) = {p.parent for p in (example / "runs/.cache").rglob("index.marshal")}
    assert not (folder / "stages.marshal").exists()  # deferred: not asked for
    assert not (folder / "attempts.marshal").exists()
    expected = [s["name"] for r in records(example) for s in r["stages"]]
    assert json.loads(run_cli("query", "[].stages[].name")[1]) == expected
    assert (folder / "stages.marshal").exists()  # cached by the query naming them
    (lazy, *_), _ = index.load(Archive(example / "runs"), {"stages"})
    assert set(dict.keys(lazy)) == {"id", "stages"}  # from the cache, not the record
    # A column lost from a current cache is read from the records again.
    (folder / "metrics.marshal").unlink()
    wanted = [r["metrics"] for r in records(example)]
    assert json.loads(run_cli("query", "[].metrics")[1]) == wanted
    full, _ = index.load(Archive(example / "runs"))
    assert [dict(r) for r in full] == records(example)


def test_list_limit_reads_only_the_runs_it_shows(example: Path, run_cli: RunCli) -> None:
    """The first or last N runs: the same rows as from the cache, damaged ones skipped
    and said, and nothing else read (no cache is built)."""
    code, out, _ = run_cli("list", "--limit", "2", "--format", "json")
    assert [r["id"] for r in json.loads(out)] == ["0001", "0002"]
    (example / "runs" / "0005" / "run.json").write_text("{not json")
    code, out, err = run_cli("list", "-r", "--limit", "2", "--format", "json")
    assert code == 0 and [r["id"] for r in json.loads(out)] == ["0006", "0004"]
    assert "skipped" in err and "0005" in err
    assert not (example / "runs" / ".cache").exists()
    code, all_rows, _ = run_cli("list", "-r", "--format", "json")
    assert json.loads(all_rows)[:2] == json.loads(out)


def test_list_limit_goes_past_many_damaged_runs(example: Path, run_cli: RunCli) -> None:
    """`list --limit` reads from the end of the archive without sorting every id: with
    more damaged runs at the end than it looked at first, it goes on to the others."""
    record = json.loads((example / "runs/0006/run.json").read_text())
    for number in range(7, 31):
        folder = example / "runs" / f"{number:04d}"
        folder.mkdir()
        record["id"] = folder.name
        damaged = number > 10
        (folder / "run.json").write_text("{damaged" if damaged else json.dumps(record))
    code, out, err = run_cli("list", "-r", "--limit", "2", "--format", "json")
    assert code == 0 and [r["id"] for r in json.loads(out)] == ["0010", "0009"]
    assert err.count("damaged record") == 20
    code, out, _ = run_cli("list", "--limit", "3", "--format", "json")
    assert [r["id"] for r in json.loads(out)] == ["0001", "0002", "0003"]
    assert run_cli("show", "last~20", "--json")[0] == 0  # 0010
    code, _, err = run_cli("show", "last~30")
    assert code == 2 and "has 30 runs" in err


def test_list_where_sort_limit(example: Path, run_cli: RunCli) -> None:
    code, out, _ = run_cli(
        "list", "--where", "vars.LR == `0.05`", "--sort", "metrics.acc", "-r", "--limit", "2"
    )
    assert code == 0
    assert out == (
        "id    status     started              duration  metrics.acc  hypothesis\n"
        "0003  succeeded  2026-11-03 00:00:00  3m00s     0.94         "
        "Momentum helps at the larger rate\n"
        "0002  succeeded  2026-11-02 00:00:00  2m00s     0.85         "
        "a larger learning rate converges faster\n"
    )
    rows = json.loads(run_cli("list", "--format", "json", "--where", "status=='failed'")[1])
    assert rows == [
        {
            "id": "0005",
            "status": "failed",
            "started": "2026-11-05 00:00:00",
            "duration": "5m00s",
            "hypothesis": "a broken run",
        }
    ]


def test_show_and_names(example: Path, run_cli: RunCli) -> None:
    code, out, _ = run_cli("show", "last~3")
    assert code == 0
    assert out.startswith("run 0003  succeeded  (lr-study)\n  hypothesis:   Momentum helps")
    assert "  MOMENTUM  0.9    (-s)" in out
    assert "  acc   0.94" in out
    assert json.loads(run_cli("show", "3", "--json")[1])["id"] == "0003"
    for name in ("../x", "/etc", "last~9", "0042", "latest"):
        code, _, err = run_cli("show", name)
        assert code == 2 and f"'{name}'" in err, name


def test_diff(example: Path, run_cli: RunCli) -> None:
    code, out, _ = run_cli("diff", "2", "3")
    assert code == 0
    assert "run 0002 -> run 0003\nstatus: same (succeeded)\nenvironment: same\nvars\n" in out
    assert "  MOMENTUM  0.0  0.9  +0.9\n" in out
    assert "  -  MOMENTUM: 0.0\n  +  MOMENTUM: 0.9\n" in out  # the archived expfiles
    assert "  acc   0.85  0.94  +0.09\n" in out
    code, out, _ = run_cli("diff", "5", "6")
    assert "run 0005 -> run 0006\nstatus: failed -> succeeded\nenvironment: same\nvars\n" in out
    assert "code: commit" in out and "code.patch" in out and "+an untracked note" in out


def test_diff_outside_git_says_why_no_commit(project: Path, run_cli: RunCli) -> None:
    for _ in range(2):
        assert run_cli("run")[0] == 0
        assert run_cli("end")[0] == 0
    code, out, _ = run_cli("diff", "1", "2")
    assert code == 0
    assert "code: not a git repository\n" in out, out  # not cut to 10 characters as a commit


def test_archive_option_reads_any_archive(
    example: Path, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli("query", "length(@)", "--archive", str(example / "runs"))
    assert (code, out) == (0, "6\n")
    assert run_cli("list", "--archive", "nowhere")[0] == 2


def test_list_shows_chosen_columns(example: Path, run_cli: RunCli) -> None:
    code, out, err = run_cli(
        "list", "--where", "vars.LR > `0.04`", "--columns", "vars.LR,metrics.acc", "--limit", "2"
    )
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == [
        "id",
        "status",
        "started",
        "duration",
        "vars.LR",
        "metrics.acc",
        "hypothesis",
    ]
    assert lines[1].split()[:1] == ["0002"] and lines[1].split()[5:7] == ["0.05", "0.85"]
    code, out, _ = run_cli("list", "--columns", "max([vars.LR, `0.07`])", "--format", "csv")
    assert code == 0
    assert out.splitlines()[0] == 'id,status,started,duration,"max([vars.LR, `0.07`])",hypothesis'
    assert out.splitlines()[4].split(",")[4] == "0.1"


NOT_JSON = "[to_number('nan'), `1e999`, `-1e999`, [to_number('nan')], {x: `1e999`}]"


def _strict_json(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise AssertionError(f"{constant} is no JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("json", '["NaN","Infinity","-Infinity",["NaN"],{"x":"Infinity"}]\n'),
        ("jsonl", '"NaN"\n"Infinity"\n"-Infinity"\n["NaN"]\n{"x":"Infinity"}\n'),
        ("table", 'value\nNaN\nInfinity\n-Infinity\n["NaN"]\n{"x":"Infinity"}\n'),
        ("csv", 'value\nNaN\nInfinity\n-Infinity\n"[""NaN""]"\n"{""x"":""Infinity""}"\n'),
    ],
)
def test_numbers_json_cannot_hold_come_out_as_records_hold_them_in_every_format(
    example: Path, run_cli: RunCli, fmt: str, expected: str
) -> None:
    """Output is strict JSON (RFC 8259), also inside table and CSV cells: NaN and the
    infinities are the texts a record holds for them."""
    code, out, err = run_cli("query", NOT_JSON, "--format", fmt)
    assert (code, out, err) == (0, expected, "")


def test_a_record_edited_to_hold_nan_is_shown_as_strict_json(
    example: Path, run_cli: RunCli
) -> None:
    path = example / "runs/0001/run.json"
    record = json.loads(path.read_text())
    record["metrics"] = {"acc": float("nan"), "loss": float("inf")}
    path.write_text(json.dumps(record))  # Python writes NaN and Infinity
    expected = {"acc": "NaN", "loss": "Infinity"}
    assert _strict_json(run_cli("query", "[0].metrics")[1]) == expected
    assert _strict_json(run_cli("show", "1", "--json")[1])["metrics"] == expected
    listed = run_cli("list", "--columns", "metrics", "--format", "json")[1]
    assert _strict_json(listed)[0]["metrics"] == expected


def test_list_shows_the_sort_key_and_metrics_as_columns(example: Path, run_cli: RunCli) -> None:
    code, out, err = run_cli("list", "--sort", "metrics.acc", "--reverse", "--limit", "2")
    assert (code, err) == (0, "")
    assert out.splitlines()[0].split() == [
        "id",
        "status",
        "started",
        "duration",
        "metrics.acc",
        "hypothesis",
    ]
    assert out.splitlines()[1].split()[:1] + out.splitlines()[1].split()[5:6] == ["0003", "0.94"]
    code, out, _ = run_cli("list", "--columns", "metrics,series", "--limit", "1")
    assert out.splitlines()[0].split() == [
        "id",
        "status",
        "started",
        "duration",
        "metrics.acc",
        "metrics.loss",
        "series.loss.last",
        "series.loss.min",
        "series.loss.max",
        "hypothesis",
    ]
    assert out.splitlines()[1].split()[5:10] == ["0.81", "0.99", "0.91", "0.91", "1"]


def test_list_numbers_are_short_in_a_table_and_exact_elsewhere(
    example: Path, run_cli: RunCli
) -> None:
    column = "`0.123456789`"
    table = run_cli("list", "--columns", column, "--limit", "1")[1]
    assert table.splitlines()[1].split()[5] == "0.1235"
    csv = run_cli("list", "--columns", column, "--limit", "1", "--format", "csv")[1]
    assert csv.splitlines()[1].split(",")[4] == "0.123456789"


def test_a_column_of_deeply_nested_mappings_is_spread_a_few_levels_only(
    example: Path, run_cli: RunCli
) -> None:
    """A record's var nested 900 deep (a run pulled from elsewhere) once made
    `list --columns vars` fail for every run ("nested too deeply", with a path of 900
    keys): a mapping is spread into columns a few levels deep, then shown as one cell."""
    path = example / "runs" / "0001" / "run.json"
    record = json.loads(path.read_text())
    deep: Any = 1
    for _ in range(900):
        deep = {"a": deep}
    record["vars"]["DEEP"] = deep
    path.write_text(json.dumps(record))
    code, out, err = run_cli("list", "--columns", "vars", "--format", "csv")
    assert (code, err) == (0, "")
    header = out.splitlines()[0].split(",")
    assert "vars.LR" in header
    assert [c for c in header if c.startswith("vars.DEEP")] == ["vars.DEEP.a.a.a.a.a.a.a"]
    assert len(out.splitlines()) == 1 + len(records(example))


@pytest.mark.slow
def test_list_rows_fit_the_terminal_unless_piped(example: Path) -> None:
    pid, fd = pty.fork()
    if pid == 0:  # the child: expman list on a terminal 60 columns wide
        os.environ["COLUMNS"] = "60"
        os.execv(sys.executable, [sys.executable, "-m", "expman", "list"])
    output = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    os.waitpid(pid, 0)
    os.close(fd)
    lines = [line for line in output.decode().split("\r\n") if line]
    plain = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in lines]
    assert plain[1] == "0001  succeeded  2026-11-01 00:00:00  1m00s     baseline: t…"
    assert all(len(line) <= 60 for line in plain)
    piped = subprocess.run(
        [sys.executable, "-m", "expman", "list"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "60"},
        check=True,
    )
    assert "baseline: the default learning rate\n" in piped.stdout


def _list_on_a_terminal(columns: int) -> list[str]:
    """The lines `expman list` writes on a terminal `columns` wide, colours left out."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: expman list on a terminal
        os.environ["COLUMNS"] = str(columns)
        os.execv(sys.executable, [sys.executable, "-m", "expman", "list"])
    output = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    os.waitpid(pid, 0)
    os.close(fd)
    lines = [line for line in output.decode().split("\r\n") if line]
    return [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in lines]


def test_wide_characters_take_two_columns_of_the_terminal(example: Path) -> None:
    """A hypothesis in Chinese (each character two columns wide on a terminal) once made
    rows twice as wide as the terminal, wrapped: rows are cut by the columns they take."""
    path = example / "runs" / "0001" / "run.json"
    record = json.loads(path.read_text())
    record["hypothesis"] = "学习率越大损失下降越快准确率也越高" * 2
    path.write_text(json.dumps(record, ensure_ascii=False))
    lines = _list_on_a_terminal(60)
    wide = [line for line in lines if line.startswith("0001")]
    assert len(wide) == 1
    taken = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in wide[0])
    assert taken in (59, 60) and wide[0].endswith("…")  # a wide character is never halved
    assert lines[1 + 1].startswith("0002")  # no row wraps onto the next


# Queries never answer "nothing" silently for a likely mistake: a warning on stderr names
# the probable fix, and the answer (and exit 0) stay as they were.


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

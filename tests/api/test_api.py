"""The archive from Python (`expman.open`): real archives made with the command line, read
as tables, runs and curves; the same guarantees as the command line's readers."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import expman
from expman.errors import ArchiveError
from tests.archives import expman as cli
from tests.conftest import age, git, required

pandas = required("pandas", "pandas is in the test extra")

EXPFILE = """\
version: 1
name: study
vars: {LR: 0.1, DEPTH: 2}
export: [LR, DEPTH]
stages:
  run:
    cmd: python3 train.py
  fetch:
    cmd: cp metrics.json model.txt "$EXPMAN_OUTPUTS"/
metrics: outputs/metrics.json
"""
TRAIN = """\
import json, os
lr, depth = float(os.environ["LR"]), int(os.environ["DEPTH"])
with open(os.environ["EXPMAN_METRICS"], "a") as f:
    for step in range(50):
        point = {"step": step, "loss": lr / (step + 1), "acc": step * depth / 100}
        f.write(json.dumps(point) + "\\n")
json.dump({"acc": lr * depth, "nested": {"f1": 0.5}, "seen": [1, 2]}, open("metrics.json", "w"))
open("model.txt", "w").write("weights")
"""


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An experiment with a run (noted and tagged) and a 2 x 2 sweep: runs 0001-0005."""
    root = tmp_path_factory.mktemp("api") / "study"
    root.mkdir()
    (root / "expfile.yaml").write_text(EXPFILE)
    (root / "train.py").write_text(TRAIN)
    (root / ".gitignore").write_text("/.expman/\n/outputs/\n/runs/\nmetrics.json\nmodel.txt\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "start")
    C = ("-C", str(root))
    assert cli(*C, "run", "-s", "LR=0.2")[0] == 0
    assert cli(*C, "end", "-m", "first")[0] == 0
    assert cli(*C, "note", "last", "-m", "<b>bold</b> \x1b[31mred")[0] == 0
    assert cli(*C, "tag", "last", "+baseline")[0] == 0
    # One at a time: the runs get their ids in the points' order (tests name them by id).
    code, _, err = cli(*C, "sweep", "-s", "LR=0.1,0.3", "-s", "DEPTH=1,2", "--jobs", "1")
    assert code == 0, err
    return root


@pytest.fixture
def study(made: Path, tmp_path: Path) -> Path:
    """A copy of the experiment of its own (a test may damage it)."""
    copy = tmp_path / "study"
    shutil.copytree(made, copy, symlinks=True)
    for record in (copy / "runs").glob("*/run.json"):
        age(record)  # the record cache keeps only records older than a few seconds
    return copy


def test_runs_are_a_table_of_columns_named_by_the_rule(made: Path) -> None:
    table = expman.open(made).runs()
    assert table.column("id") == ["0001", "0002", "0003", "0004", "0005"]
    first_columns = ["id", "experiment", "status", "started", "duration", "tags", "notes"]
    assert table.columns[:7] == first_columns
    for name in ("vars.LR", "vars.DEPTH", "metrics.acc", "metrics.nested.f1", "sweep.id"):
        assert name in table.columns
    assert {"series.loss.min", "series.loss.last", "series.acc.max"} <= set(table.columns)
    first = table.rows()[0]
    assert first["vars.LR"] == 0.2 and first["metrics.seen"] == [1, 2]  # a list: one cell
    assert first["tags"] == ["baseline"] and first["notes"] == ["<b>bold</b> \x1b[31mred"]
    assert first["sweep.id"] is None and table.rows()[1]["sweep.id"] == "s0001"
    assert first["series.loss.min"] == pytest.approx(0.2 / 50)


def test_columns_asked_by_name_or_prefix_in_the_order_asked(made: Path) -> None:
    table = expman.open(made).runs(columns=["id", "metrics.acc", "vars", "nothing.here"])
    assert table.columns == ["id", "metrics.acc", "vars.DEPTH", "vars.LR", "nothing.here"]
    assert table.rows()[3] == {
        "id": "0004",
        "metrics.acc": pytest.approx(0.3),
        "vars.DEPTH": 1,
        "vars.LR": 0.3,
        "nothing.here": None,
    }


def test_where_is_the_dialect_of_expman_query(made: Path) -> None:
    condition = "sweep.id == 's0001' && matches(to_string(vars.LR), '^0\\.3') && vars.DEPTH > `1`"
    table = expman.open(made).runs(where=condition, columns=["id"])
    code, out, err = cli("-C", str(made), "query", f"[?{condition}].id")
    assert code == 0, err
    assert table.column("id") == json.loads(out) == ["0005"]


@pytest.mark.parametrize(
    "condition",
    [
        "vars.LR > `0.15` && status == 'succeeded'",  # a column at a time
        "!sweep.id || vars.DEPTH == `1`",
        "metrics.nested.f1 == `0.5` && nothing.here == null",
        "nothing < `1`",  # null for every run
        "length(tags) > `0`",  # record by record
    ],
)
def test_where_selects_what_query_selects(made: Path, condition: str) -> None:
    table = expman.open(made).runs(where=condition, columns=["id", "vars.LR"])
    code, out, err = cli("-C", str(made), "query", f"[?{condition}].{{id: id, LR: vars.LR}}")
    assert code == 0, err
    expected = json.loads(out)
    assert [{"id": r["id"], "LR": r["vars.LR"]} for r in table.rows()] == expected


def test_found_as_the_command_line_finds_it(made: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = expman.open(made / "runs").runs().rows()
    assert expman.open(made / "expfile.yaml").runs().rows() == expected
    (made / "notes").mkdir(exist_ok=True)
    monkeypatch.chdir(made / "notes")
    assert expman.open().root == made / "runs"
    with pytest.raises(ArchiveError, match="no such folder"):
        expman.open(made / "missing")


def test_the_same_archive_gives_the_same_frame(study: Path) -> None:
    archive = expman.open(study)
    first = archive.runs().to_pandas()  # from the records: the cache is made
    cached = archive.runs().to_pandas()  # from the cache
    shutil.rmtree(study / "runs" / ".cache")
    again = expman.open(study).runs().to_pandas()
    for frame in (cached, again):
        pandas.testing.assert_frame_equal(frame, first, check_exact=True)
        assert list(frame.dtypes) == list(first.dtypes)
    assert first["vars.LR"].dtype == "float64" and first["vars.DEPTH"].dtype == "int64"


def test_to_polars_keeps_the_columns(made: Path) -> None:
    polars = required("polars", "polars is in the test extra")
    frame = expman.open(made).runs().to_polars()
    assert frame.columns == expman.open(made).runs().columns
    assert frame["vars.LR"].dtype == polars.Float64
    assert frame["tags"].to_list()[0] == ["baseline"]


def test_a_missing_package_is_named(made: Path) -> None:
    probe = (
        "import sys, expman\n"
        "sys.modules['pandas'] = None; sys.modules['polars'] = None  # not installed\n"
        "table = expman.open(sys.argv[1]).runs()\n"
        "print(len(table.rows()))\n"
        "for method in (table.to_pandas, table.to_polars):\n"
        "    try:\n"
        "        method()\n"
        "    except ModuleNotFoundError as e:\n"
        "        print(e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(made)], capture_output=True, text=True, check=True
    )
    assert done.stdout.splitlines() == [
        "5",
        "Table.to_pandas() needs pandas, which is not installed: pip install pandas",
        "Table.to_polars() needs polars, which is not installed: pip install polars",
    ]


def test_a_damaged_record_is_named_in_a_warning_and_skipped(study: Path) -> None:
    (study / "runs" / "0003" / "run.json").write_text('{"id": "0003", "status": ')
    with pytest.warns(expman.DamagedRecordWarning, match=r"0003/run.json"):
        table = expman.open(study).runs()
    assert table.column("id") == ["0001", "0002", "0004", "0005"]
    with pytest.warns(expman.DamagedRecordWarning) as warned:
        expman.open(study).series(["1"])
    assert [w.filename for w in warned] == [__file__]  # the caller's line, not the API's


def test_one_run_with_its_record_files_and_series(made: Path) -> None:
    run = expman.open(made).run("1")
    assert run.id == "0001" and run.record["status"] == "succeeded"
    assert run.row["vars.LR"] == 0.2
    assert sorted(run.outputs()) == ["metrics.json", "model.txt"]
    assert run.outputs()["model.txt"].read_text() == "weights"
    assert "logs/run.out" in run.logs()
    with run.open("outputs/model.txt") as f:
        assert f.read() == b"weights"
    curve = run.series(metrics=["loss"], sampled=False)
    assert curve.columns == ["id", "step", "metric", "value"]
    assert curve.column("step") == list(range(50))
    assert curve.column("value") == [0.2 / (s + 1) for s in range(50)]
    with pytest.raises(ArchiveError, match="'9' is not a run"):
        expman.open(made).run("9")


def test_files_are_never_reached_through_a_link(study: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("private")
    outputs = study / "runs" / "0001" / "outputs"
    model = outputs / "model.txt"
    model.chmod(0o644)
    model.unlink()
    model.symlink_to(secret)
    run = expman.open(study).run("1")
    assert sorted(run.outputs()) == ["metrics.json"]
    with pytest.raises(OSError):
        run.open("outputs/model.txt")
    with pytest.raises(ValueError, match="not a path inside"):
        run.open("../0002/run.json")
    record = run.record
    record["outputs"].append({"path": "../../../secret", "size": 1, "sha256": "0" * 64})
    assert sorted(expman.api.Run(run.folder, record).outputs()) == ["metrics.json"]


def test_series_in_long_format_with_run_columns(made: Path) -> None:
    archive = expman.open(made)
    swept = archive.runs(where="sweep.id == 's0001'", columns=["id"])
    full = archive.series(swept, metrics=["loss", "acc"], sampled=False, columns=["vars.LR"])
    frame = full.to_pandas()
    assert full.columns == ["id", "step", "metric", "value", "vars.LR"]
    assert len(frame) == 4 * 2 * 50
    assert list(frame["id"].unique()) == ["0002", "0003", "0004", "0005"]
    assert list(frame["metric"].unique()) == ["acc", "loss"]
    lr = frame[(frame.id == "0004") & (frame.metric == "loss")]
    assert list(lr["vars.LR"].unique()) == [0.3]
    assert list(lr["value"]) == [0.3 / (s + 1) for s in range(50)]
    sampled = archive.series(swept, metrics=["loss"]).to_pandas()  # 50 points: all kept
    loss = frame[frame.metric == "loss"][["id", "step", "metric", "value"]]
    pandas.testing.assert_frame_equal(sampled, loss.reset_index(drop=True))


def test_notebook_html_is_escaped_as_the_report_escapes(made: Path) -> None:
    archive = expman.open(made)
    for shown in (archive.runs()._repr_html_(), archive.run("1")._repr_html_()):
        assert "&lt;b&gt;bold&lt;/b&gt;" in shown
        assert "<b>bold" not in shown and "\x1b" not in shown
        assert "\\x1b[31mred" in shown or "\\u001b[31mred" in shown


def test_reading_works_on_a_read_only_archive(study: Path) -> None:
    """As root the archive's modes would not stop a write: the reader runs without the
    override (as `tests/test_integrity.py` does)."""
    shutil.rmtree(study / "runs" / ".cache", ignore_errors=True)
    subprocess.run(["chmod", "-R", "a-w", str(study)], check=True)
    probe = (
        "import sys, expman\n"
        "archive = expman.open(sys.argv[1])\n"
        "runs = archive.runs()\n"
        "curves = archive.series(runs, sampled=False)\n"
        "print(len(runs), len(curves), sorted(archive.run('last').outputs()))\n"
    )
    try:
        done = subprocess.run(
            _without_write_override(sys.executable, "-c", probe, str(study)),
            capture_output=True,
            text=True,
        )
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(study)], check=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split(maxsplit=2) == ["5", "500", "['metrics.json', 'model.txt']\n"]
    assert not (study / "runs" / ".cache").exists()


def _without_write_override(*argv: str) -> list[str]:
    if os.geteuid() != 0:
        return list(argv)
    if shutil.which("setpriv") is None:
        pytest.fail("setpriv (util-linux) is needed to test a read-only archive as root")
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", "--", *argv]


def test_a_pulled_archive_reads_as_its_source(made: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    code, _, err = cli("pull", str(made / "runs"), "--archive", str(other))
    assert code == 0, err
    source = expman.open(made).runs(columns=["vars", "metrics", "status"]).rows()
    pulled = expman.open(other).runs(columns=["vars", "metrics", "status"]).rows()
    assert pulled == source
    curves = expman.open(other).series(sampled=False)
    assert len(curves) == 5 * 2 * 50


def test_query_jsonl_is_one_json_value_per_line(made: Path) -> None:
    code, out, err = cli("-C", str(made), "query", "[].{id: id, lr: vars.LR}", "--format", "jsonl")
    assert code == 0, err
    lines = out.splitlines()
    assert [json.loads(line) for line in lines] == [
        {"id": f"000{i}", "lr": lr} for i, lr in enumerate([0.2, 0.1, 0.1, 0.3, 0.3], 1)
    ]
    frame = pandas.read_json(__import__("io").StringIO(out), lines=True, dtype={"id": str})
    assert list(frame["id"]) == ["0001", "0002", "0003", "0004", "0005"]
    code, out, _ = cli("-C", str(made), "query", "length(@)", "--format", "jsonl")
    assert out == "5\n"


def test_reading_waits_for_no_writer(study: Path) -> None:
    """Every folder of the archive and the experiment's lock held exclusively, as writers
    hold them: the read API answers all the same (it takes no lock at all)."""
    holder = (
        "import fcntl, os, sys\n"
        "fds = [os.open(p, os.O_RDONLY) for p in sys.argv[1:]]\n"
        "for fd in fds:\n"
        "    fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "sys.stdin.read()\n"
    )
    (study / ".expman").mkdir(exist_ok=True)
    (study / ".expman" / "lock").touch()
    held = [study / ".expman" / "lock", *(p for p in (study / "runs").rglob("*") if p.is_dir())]
    with subprocess.Popen(
        [sys.executable, "-c", holder, *map(str, held)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as locks:
        assert locks.stdout is not None and locks.stdout.readline() == "held\n"
        probe = "import sys, expman\na = expman.open(sys.argv[1])\nprint(len(a.series(a.runs())))"
        done = subprocess.run(
            [sys.executable, "-c", probe, str(study)], capture_output=True, text=True, timeout=60
        )
        locks.communicate("")
    assert done.returncode == 0 and done.stdout == "500\n", done.stderr


def test_the_naming_rule_on_values_records_hold() -> None:
    from expman.api.columns import expand, flatten

    metrics = flatten("metrics", {"loss": "NaN", "gain": "-Infinity", "top": {"k": [1, 2]}})
    assert str(metrics["metrics.loss"]) == "nan" and metrics["metrics.gain"] == float("-inf")
    assert metrics["metrics.top.k"] == [1, 2]
    assert flatten("vars", {"NAME": "NaN"}) == {"vars.NAME": "NaN"}  # a var's text stays text
    assert flatten("metrics", None) == {} and flatten("metrics", {}) == {}
    assert flatten("metrics", {"a.b": 1, "a": {"b": 2}}) == {"metrics.a.b": 1}  # the first
    assert flatten("notes", [{"text": "x", "at": "2026"}]) == {"notes": ["x"]}
    assert flatten("status", "failed") == {"status": "failed"}
    assert expand(["vars", "id"], ["id", "vars.B", "vars.A", "varsity"]) == [
        "vars.A",
        "vars.B",
        "id",
    ]


def test_a_field_spread_into_columns_is_each_runs_value_flattened() -> None:
    """`spread` (a column at a time) gives what `flatten` of each run's value gives."""
    from expman.api.columns import flatten, spread

    values: dict[str, list[object]] = {
        "vars": [{"LR": 0.1, "NAME": "NaN"}, None, {"LR": 0.2, "DEPTH": 3}, {"x": {"y": 1}}],
        "metrics": [{"loss": "NaN", "acc": 0.5}, {"a.b": 1, "a": {"b": 2}}, 0.7, None],
        "notes": [[{"text": "x", "at": "2026"}], [], None, [{"at": "2026"}]],
        "status": ["failed", None, "succeeded", "running"],
        "tags": [["a"], [], None, ["b", "c"]],
    }
    for field, column in values.items():
        expected: dict[str, list[object]] = {}
        for position, value in enumerate(column):
            for name, cell in flatten(field, value).items():
                expected.setdefault(name, [None] * len(column))[position] = cell
        got = spread(field, column)
        assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True), field


def test_every_public_name_is_in_the_reference(made: Path) -> None:
    """docs/python-api.md names every public name of the API: each of `expman.api`'s,
    and each public method and attribute of its classes as `Class.name`."""
    import expman.api

    reference = (Path(__file__).resolve().parents[2] / "docs" / "python-api.md").read_text()
    archive = expman.open(made)
    instances = {
        "Archive": archive,
        "Table": archive.runs(),
        "Run": archive.run("1"),
        "DamagedRecordWarning": expman.DamagedRecordWarning(),
    }
    missing = []
    for name in expman.api.__all__:
        title = "`expman.open(" if name == "open" else f"`{name}`"
        if title not in reference:
            missing.append(name)
        if name in instances:
            public = {a for a in dir(instances[name]) if not a.startswith("_")}
            public -= set(dir(Warning))  # a warning's own: args, with_traceback
            missing += [f"{name}.{a}" for a in sorted(public) if f"`{name}.{a}" not in reference]
    assert set(expman.api.__all__) == set(instances) | {"open"}
    assert not missing, f"not in docs/python-api.md: {missing}"


def test_a_run_in_flight_shows_its_live_series_without_a_torn_last_line(study: Path) -> None:
    folder = study / "runs" / "0001"
    for name in ("series.jsonl", "series.sampled.json"):
        (folder / name).unlink()
    (folder / "live").mkdir()
    (folder / "live" / "series.jsonl").write_text(
        '{"step": 0, "loss": 3}\nnot json\n{"step": 1, "loss": 2}\n{"step": 2, "lo'
    )
    for sampled in (True, False):
        curve = expman.open(study).run("1").series(sampled=sampled)
        assert [(r["step"], r["value"]) for r in curve] == [(0, 3), (1, 2)]


def test_a_sampled_file_that_is_a_link_is_not_followed(study: Path, tmp_path: Path) -> None:
    forged = tmp_path / "forged.json"
    forged.write_text('{"loss": {"step": [0], "value": [42]}}')
    sampled = study / "runs" / "0001" / "series.sampled.json"
    sampled.unlink()
    sampled.symlink_to(forged)
    curve = expman.open(study).run("1").series(metrics=["loss"])
    assert 42 not in curve.column("value")
    assert curve.column("value") == [0.2 / (s + 1) for s in range(50)]  # from series.jsonl


def test_one_name_given_as_a_text_or_a_number_is_one_name(made: Path) -> None:
    """A new user's `columns="metrics.acc"`, `metrics="loss"`, `runs="3"` or `run(3)` asks
    for one column, metric or run (a text is not taken letter by letter: `runs="12"` once
    gave runs 1 and 2, `metrics="loss"` no point at all)."""
    archive = expman.open(made)
    assert archive.runs(columns="metrics.acc").columns == ["metrics.acc"]
    loss = archive.series(runs="3", metrics="loss", columns="vars.LR", sampled=False)
    assert loss.columns == ["id", "step", "metric", "value", "vars.LR"]
    assert set(loss.column("id")) == {"0003"} and set(loss.column("metric")) == {"loss"}
    assert len(loss) == 50
    assert archive.series(runs=[3, "4"], metrics=["loss"]).column("id")[::50] == ["0003", "0004"]
    assert archive.run(3).id == "0003"
    assert archive.run(3).series("loss").column("metric") == ["loss"] * 50


def test_a_pipe_in_a_files_place_is_never_opened(study: Path) -> None:
    """A pipe put where a log or the sampled curves were is left alone: not opened at all
    (opening it, even without waiting, would release whatever waits to write into it; a
    device put there might act on being opened)."""
    folder = study / "runs" / "0002"
    pipes = [folder / "logs" / "run.out", folder / "series.sampled.json"]
    writers = []
    for pipe in pipes:
        pipe.chmod(0o644)
        pipe.unlink()
        os.mkfifo(pipe)
        # Opening a pipe to write waits for a reader: a writer that prints has been met.
        code = "import sys; open(sys.argv[1], 'wb'); print('met', flush=True)"
        writers.append(
            subprocess.Popen([sys.executable, "-c", code, str(pipe)], stdout=subprocess.PIPE)
        )
    try:
        run = expman.open(study).run("2")
        assert "logs/run.out" not in run.logs()
        with pytest.raises(OSError):
            run.open("logs/run.out")
        with pytest.raises(OSError):
            run.open("series.sampled.json")
        assert len(run.series(metrics="loss")) == 50  # from series.jsonl
        time.sleep(1)
        assert [writer.poll() for writer in writers] == [None, None], "a pipe was opened"
    finally:
        for pipe, writer in zip(pipes, writers, strict=True):
            with contextlib.suppress(OSError):  # met at last, so that it ends
                os.close(os.open(pipe, os.O_RDONLY | os.O_NONBLOCK))
            writer.wait(30)
            writer.stdout.close()  # type: ignore[union-attr]


def test_a_huge_sampled_file_is_not_read_into_memory(study: Path) -> None:
    """A `series.sampled.json` of 2 GB (a run from elsewhere) was read whole into memory
    by the API and by the report (2.6 GB resident): past the size expman could ever write,
    it is not read (the curves come from `series.jsonl`; the report leaves them out). Both
    run here in 1 GiB of address space."""
    sampled = study / "runs" / "0002" / "series.sampled.json"
    sampled.chmod(0o644)
    os.truncate(sampled, 2 << 30)  # sparse: no disk used
    limit = "import resource; resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30)); "
    code = limit + "import expman, sys; print(len(expman.open(sys.argv[1]).run('2').series()))"
    done = subprocess.run(
        [sys.executable, "-c", code, str(study)], capture_output=True, text=True, timeout=120
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "100\n", "")  # 2 metrics x 50
    report = limit + "import sys; from expman.cli.main import main; sys.exit(main(sys.argv[1:]))"
    argv = ["-C", str(study), "report", "-o", str(study / "report.html")]
    done = subprocess.run(
        [sys.executable, "-c", report, *argv], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr

"""The record cache (`index`) never answers differently from the run folders: after any
change to the archive, queries over the cache agree with plain `jmespath.search` over
the `run.json` files, whichever fields earlier queries cached."""

from __future__ import annotations

import itertools
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jmespath
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expman.cli.main import main
from expman.store import index, signature
from expman.store.archive import Archive
from tests.conftest import RunCli, age, records

BIN = Path(sys.executable).parent
EXPFILE = """\
version: 1
name: lab
vars: {LR: 0.01, FAIL: false}
stages:
  run: {cmd: 'test "$FAIL" = false'}
  fetch: {cmd: "true"}
"""


def _age_fresh(root: Path) -> None:
    """Make the records written within the cache's racy window look older, so that the
    next query caches them (older records are left alone: their cache stays current)."""
    now = time.time()
    for path in (root / "runs").glob("[0-9]*/run.json"):
        if now - path.stat().st_mtime < 2 * signature.RACY_SECONDS:
            age(path)


def _from_files(root: Path, expression: str) -> Any:
    return jmespath.search(expression, records(root))


def _answer(run_cli: RunCli, expression: str) -> Any:
    code, out, err = run_cli("query", expression)
    assert (code, err) == (0, ""), expression
    return json.loads(out)


def _runs(run_cli: RunCli, *rates: str) -> None:
    for rate in rates:
        assert run_cli("run", "-s", f"LR={rate}")[0] == 0
        assert run_cli("end", "-m", f"with LR={rate}")[0] == 0


def test_a_deferred_column_of_removed_runs_is_not_used(project: Path, run_cli: RunCli) -> None:
    """`attempts` was cached for three runs; one is removed and a query not naming
    `attempts` caches the two others: the three-run column must not be used (it was, and
    the query failed with exit 3)."""
    _runs(run_cli, "1", "2", "3")
    _age_fresh(project)
    expression = "[].attempts[0].overrides.LR"
    assert _answer(run_cli, expression) == [1, 2, 3]
    assert run_cli("rm", "2")[0] == 0
    assert _answer(run_cli, "[].id") == ["0001", "0003"]
    assert _answer(run_cli, expression) == [1, 3] == _from_files(project, expression)


def test_a_deferred_column_of_as_many_other_runs_is_not_used(
    project: Path, run_cli: RunCli
) -> None:
    """As many runs as before, one of them another: the removed run's attempt was shown
    as the new run's."""
    _runs(run_cli, "1", "2", "3")
    _age_fresh(project)
    expression = "[].attempts[0].overrides.LR"
    assert _answer(run_cli, expression) == [1, 2, 3]
    assert run_cli("rm", "2")[0] == 0
    _runs(run_cli, "4")
    _age_fresh(project)
    assert _answer(run_cli, "[].id") == ["0001", "0003", "0004"]
    assert _answer(run_cli, expression) == [1, 3, 4] == _from_files(project, expression)


# Questions naming different fields: the deferred ones, the annotations, whole records.
QUERIES = [
    "[].id",
    "[].attempts[].overrides.LR",
    "[].stages[].status",
    "[].{id: id, experiment: experiment, notes: notes[].text, tags: tags}",
    "[?status == 'failed'].observations",
    "[].origin.id",
    "@",
    "length(@)",
]
RUN = st.integers(min_value=0, max_value=30)  # the n-th run (or removed run), modulo
STEP = st.one_of(
    st.tuples(st.just("run"), st.integers(min_value=1, max_value=9), st.booleans()),
    st.tuples(st.just("rm"), RUN),
    st.tuples(st.just("restore"), RUN),
    st.tuples(st.just("note"), RUN, st.sampled_from(["fine", "a longer note about it"])),
    st.tuples(st.just("tag"), RUN, st.sampled_from(["+best", "-best", "+x"])),
    st.tuples(st.just("pull")),
    st.tuples(st.just("note elsewhere"), RUN),
    st.tuples(st.just("edit"), RUN, st.booleans()),
    st.tuples(st.just("rename"), RUN),
    st.tuples(st.just("forget")),
)
QUESTIONS = st.lists(st.sampled_from([*QUERIES, "load"]), min_size=1, max_size=3)


def _sequences(longest: int) -> st.SearchStrategy[list[Any]]:
    """Steps, each followed by questions, each asked twice: first after the change (the
    cache as the change left it), then warm."""
    return st.lists(st.tuples(STEP, QUESTIONS), min_size=1, max_size=longest)


def _experiment(root: Path, *rates: tuple[int, bool]) -> Path:
    root.mkdir(parents=True)
    (root / "expfile.yaml").write_text(EXPFILE)
    for rate, fail in rates:
        main(["-C", str(root), "run", "-s", f"LR={rate}", "-s", f"FAIL={str(fail).lower()}"])
        main(["-C", str(root), "end", "-m", f"LR={rate}"])
    return root


@pytest.fixture(scope="module")
def labs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two experiments: `lab` with three runs (one failed), `elsewhere` with two more
    (one noted), to pull from."""
    before = Path.cwd()
    try:
        top = tmp_path_factory.mktemp("labs")
        _experiment(top / "lab", (1, False), (2, True), (3, False))
        _experiment(top / "elsewhere", (7, False), (8, False))
        main(["-C", str(top / "elsewhere"), "note", "1", "-m", "made elsewhere"])
    finally:
        os.chdir(before)
    for path in top.glob("*/runs/[0-9]*/run.json"):
        age(path)
    return top


def _pick(names: list[str], n: int) -> str | None:
    return sorted(names, key=int)[n % len(names)] if names else None


def _step(root: Path, elsewhere: Path, step: tuple[Any, ...]) -> None:
    """Change the archive as a person would: with expman's commands, or by hand."""
    runs = root / "runs"
    ids = [p.name for p in runs.iterdir() if p.name.isdigit()]
    removed = [name.split("-")[0] for name in Archive(runs).removed_folders()]
    kind, *args = step
    chosen = _pick(ids, args[0]) if args and kind != "run" else None
    if kind == "run":
        fail = str(args[1]).lower()
        main(["-C", str(root), "run", "-s", f"LR={args[0]}", "-s", f"FAIL={fail}"])
        main(["-C", str(root), "end", "-m", f"LR={args[0]}"])
    elif kind == "rm" and chosen:
        main(["-C", str(root), "rm", chosen])
    elif kind == "restore" and removed:
        main(["-C", str(root), "rm", "--restore", str(_pick(removed, args[0]))])
    elif kind == "note" and chosen:
        main(["-C", str(root), "note", chosen, "-m", args[1]])
    elif kind == "tag" and chosen:
        main(["-C", str(root), "tag", chosen, args[1]])
    elif kind == "pull":
        main(["-C", str(root), "pull", str(elsewhere / "runs")])
    elif kind == "note elsewhere":
        theirs = [p.name for p in (elsewhere / "runs").iterdir() if p.name.isdigit()]
        main(["-C", str(elsewhere), "note", str(_pick(theirs, args[0])), "-m", "later"])
    elif kind == "edit" and chosen:
        _edit(runs / chosen / "run.json", keep_size_and_time=args[1])
    elif kind == "rename" and chosen:  # by hand, to an id of another segment
        highest = max(int(i) for i in ids + removed)
        new_id = f"{highest + index.SEGMENT:04d}"
        (runs / chosen).rename(runs / new_id)
        record = json.loads((runs / new_id / "run.json").read_text())
        record["id"] = new_id  # a record whose id is not its folder's name is damaged
        (runs / new_id / "run.json").write_text(json.dumps(record))
    elif kind == "forget":
        shutil.rmtree(runs / index.CACHE_DIR, ignore_errors=True)


def _edit(path: Path, keep_size_and_time: bool) -> None:
    """Edit a record by hand: in place with its size and modification time put back (as
    `cp -p` leaves it), or rewritten with another size."""
    info = path.stat()
    path.chmod(0o644)
    text = path.read_text()
    if keep_size_and_time:
        lower = '"experiment": "lab"'
        changed = text.replace(lower, lower.upper()) if lower in text else text.lower()
        with path.open("r+") as f:
            f.write(changed)
        os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    else:
        record = json.loads(text)
        record["observations"] = f"edited by hand ({len(text)})"
        path.write_text(json.dumps(record, indent=2))


def _printed(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n"


def _agrees(root: Path, run_cli: RunCli, question: str) -> None:
    expected = records(root)
    if question == "load":  # whole records, as `list` and `report` load them
        loaded, damaged = index.load(Archive(root / "runs"))
        assert ([dict(r) for r in loaded], damaged) == (expected, [])
        return
    code, out, err = run_cli("-C", str(root), "query", question)
    assert (code, err) == (0, ""), question
    assert out == _printed(jmespath.search(question, expected)), question


def _sequence(tmp: Path, labs: Path, run_cli: RunCli, sequence: list[Any]) -> None:
    shutil.copytree(labs, tmp, symlinks=True)
    root = tmp / "lab"
    for step, questions in sequence:
        _step(root, tmp / "elsewhere", step)
        _age_fresh(root)
        for question in questions:
            for _ in ("after the change", "warm"):
                _agrees(root, run_cli, question)


EXAMPLES = itertools.count()
FAST = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.slow
@FAST
@given(sequence=_sequences(8))
def test_the_cache_never_answers_differently_from_the_files(
    labs: Path, tmp_path: Path, run_cli: RunCli, sequence: list[Any]
) -> None:
    _sequence(tmp_path / f"example-{next(EXAMPLES)}", labs, run_cli, sequence)


@pytest.mark.slow
@settings(FAST, max_examples=150)
@given(sequence=_sequences(25))
def test_the_cache_never_answers_differently_from_the_files_in_longer_histories(
    labs: Path, tmp_path: Path, run_cli: RunCli, sequence: list[Any]
) -> None:
    _sequence(tmp_path / f"example-{next(EXAMPLES)}", labs, run_cli, sequence)


def test_columns_another_writer_left_are_not_used(project: Path, run_cli: RunCli) -> None:
    """A query that read the records before a note, and wrote its columns after a later
    query cached the noted record (or was killed before writing its index), leaves
    columns of another state beside the index: they are read again from the records."""
    _runs(run_cli, "1", "2")
    _age_fresh(project)
    index.load(Archive(project / "runs"))  # every field cached, `attempts` included
    (folder,) = {p.parent for p in (project / "runs" / index.CACHE_DIR).rglob("index.marshal")}
    before = {p.name: p.read_bytes() for p in folder.glob("*.marshal") if p.name != "index.marshal"}
    assert run_cli("note", "2", "-m", "seen later")[0] == 0
    assert run_cli("tag", "1", "+best")[0] == 0
    _age_fresh(project)
    index.load(Archive(project / "runs"))
    for name, data in before.items():
        (folder / name).write_bytes(data)
    for expression in ("[].notes[].text", "[].tags", "[].attempts[0].overrides.LR", "@"):
        assert _answer(run_cli, expression) == _from_files(project, expression), expression


def _many(project: Path, run_cli: RunCli, count: int) -> None:
    """`count` runs: two real ones, cloned with other ids and vars (as a sweep leaves them)."""
    _runs(run_cli, "1", "2")
    runs = project / "runs"
    real = [json.loads(p.read_text()) for p in sorted(runs.glob("[0-9]*/run.json"))]
    for number in range(3, count + 1):
        record = {**real[number % 2], "id": f"{number:04d}", "uid": f"{number:032x}"}
        record["vars"] = {"LR": number}
        (runs / record["id"]).mkdir()
        (runs / record["id"] / "run.json").write_text(json.dumps(record, indent=2))
    for path in runs.glob("[0-9]*/run.json"):
        age(path)


@pytest.mark.slow
def test_queries_killed_while_writing_the_cache_leave_no_wrong_answer(
    project: Path, run_cli: RunCli
) -> None:
    """Cold queries, two at a time, killed at another moment each round (reading records,
    writing columns or an index), after a note in each segment: then every answer is
    still the files'."""
    _many(project, run_cli, 2500)
    command = [str(BIN / "expman"), "query", "[].{v: vars.LR, a: attempts[0].status}"]
    chance = random.Random(18)
    for round_ in range(6):
        noted = [str(chance.randrange(segment, segment + 500)) for segment in (1, 1000, 2000)]
        assert run_cli("note", *noted, "-m", f"round {round_}")[0] == 0
        _age_fresh(project)
        queries = [subprocess.Popen(command, cwd=project, stdout=subprocess.DEVNULL)]
        queries.append(subprocess.Popen(command, cwd=project, stdout=subprocess.DEVNULL))
        time.sleep(chance.uniform(0.05, 0.6))
        for query in queries:
            query.kill()
            query.wait()
        for expression in ("[].notes[-1].text", "[].attempts[0].status"):
            assert _answer(run_cli, expression) == _from_files(project, expression)
    # The workers a killed query forked to read records die with it: killed before they
    # had work, they waited on their queue for good (seen under load: 48 left by 6 rounds).
    deadline = time.monotonic() + 10
    while _working_in(project):
        assert time.monotonic() < deadline, "a killed query's workers outlived it"
        time.sleep(0.1)


def _working_in(folder: Path) -> list[int]:
    """The processes (but this one) whose working folder is `folder`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cwd").readlink() == folder:
                found.append(int(entry.name))
        except OSError:
            continue
    return [pid for pid in found if pid != os.getpid()]

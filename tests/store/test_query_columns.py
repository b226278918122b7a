"""A selection evaluated over the cache's columns (`Query.search_table`) answers what
JMESPath's own interpreter answers over the records, for any condition and any values:
numbers, booleans, texts, nulls, lists, objects and absent fields side by side."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jmespath
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expman.errors import QueryError
from expman.store import index
from expman.store.archive import Archive
from expman.store.query import Query
from tests.records import fake_record

VALUES: list[Any] = [0, 1, 0.5, -2, True, False, None, "", "a", "b", [], [1, "a"], {}, {"x": 1}]
FIELDS = ("a", "b", "nested")
BIN = Path(sys.executable).parent


def _record(number: int) -> dict[str, Any]:
    """A record whose fields take every kind of value, some absent, some nested."""
    record: dict[str, Any] = dict(fake_record(id=f"{number:04d}"))
    for position, name in enumerate(FIELDS[:2]):
        pick = (number * (position + 3)) % (len(VALUES) + 1)
        if pick < len(VALUES):  # the last pick: the field is absent
            record[name] = VALUES[pick]
    if number % 3:
        record["nested"] = {"x": VALUES[number % len(VALUES)], "list": VALUES[: number % 5]}
    return record


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Archive, list[dict[str, Any]]]:
    root = tmp_path_factory.mktemp("columns") / "runs"
    records = [_record(number) for number in range(1, 2 * len(VALUES) + 2)]
    for record in records:
        folder = root / record["id"]
        folder.mkdir(parents=True)
        (folder / "run.json").write_text(json.dumps(record))
        os.utime(folder / "run.json", (1e9, 1e9))  # old enough to be cached
    return Archive(root), records


_PATHS = ["a", "b", "nested", "nested.x", "nested.list[0]", "nested.list[-1]", "a.x", "b[0]"]
_LITERALS = ["`0`", "`1`", "`0.5`", "`true`", "`false`", "`null`", "''", "'a'", "`[]`", "`{}`"]
_OPERATORS = ["==", "!=", "<", "<=", ">", ">="]

leaves = st.one_of(
    st.sampled_from(_PATHS),
    st.builds(
        "{} {} {}".format,
        st.sampled_from(_PATHS),
        st.sampled_from(_OPERATORS),
        st.sampled_from(_PATHS + _LITERALS),
    ),
)
conditions = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.builds("!({})".format, inner),
        st.builds("({}) && ({})".format, inner, inner),
        st.builds("({}) || ({})".format, inner, inner),
    ),
    max_leaves=4,
)


def _interpreted(expression: str, records: list[dict[str, Any]]) -> Any:
    try:
        return jmespath.search(expression, records)
    except (jmespath.exceptions.JMESPathError, TypeError):  # `1 < 'a'`
        return "error"


def _by_columns(expression: str, archive: Archive, columns: bool = False) -> Any:
    """`expression` over the archive's table, loaded as `expman query` loads it
    (`columns`: fields and leaves) or with every field it names."""
    query = Query(expression)
    assert query._selection is not None, expression  # the columns' way is taken
    fields, leaves = query.columns() if columns else (query.fields(), set())
    table, damaged = index.load_table(archive, fields, leaves)
    assert damaged == []
    try:
        return query.search_table(table)
    except QueryError:
        return "error"


@pytest.mark.slow
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    condition=conditions,
    what=st.sampled_from(["", ".id", ".nested.x", ".[id, a]", ".length(@)"]),
    columns=st.booleans(),
)
def test_a_selection_by_columns_agrees_with_the_interpreter(
    archive: tuple[Archive, list[dict[str, Any]]], condition: str, what: str, columns: bool
) -> None:
    root, records = archive
    expression = f"[?{condition}]{what}"
    assert _by_columns(expression, root, columns) == _interpreted(expression, records)


_PROJECTED = [*_PATHS, "id", "nested.list", "nested.x.y", "nested.list[1]"]
projections = st.recursive(
    st.sampled_from(_PROJECTED),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda parts: f"[{', '.join(parts)}]"),
        st.lists(inner, min_size=1, max_size=3).map(
            lambda parts: "{" + ", ".join(f"k{i}: {p}" for i, p in enumerate(parts)) + "}"
        ),
    ),
    max_leaves=4,
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    condition=st.one_of(st.none(), conditions),
    what=projections,
    whole=st.sampled_from(["[]", "[*]"]),
    columns=st.booleans(),
)
def test_a_projection_by_columns_agrees_with_the_interpreter(
    archive: tuple[Archive, list[dict[str, Any]]],
    condition: str | None,
    what: str,
    whole: str,
    columns: bool,
) -> None:
    """Paths, and lists and objects of them, are taken from the columns alone (no record
    is built), loaded as `expman query` loads them or with every field named."""
    root, records = archive
    expression = f"{whole if condition is None else f'[?{condition}]'}.{what}"
    query = Query(expression)
    assert query._selection is not None and query._selection.what is not None, expression
    assert _by_columns(expression, root, columns) == _interpreted(expression, records)


def test_other_expressions_are_left_to_the_interpreter(
    archive: tuple[Archive, list[dict[str, Any]]],
) -> None:
    root, records = archive
    others = ("[?length(@) > `1`].id", "[?@.a == `1`]", "[?a == `1`] | [0]", "[].length(@)")
    for expression in others:
        query = Query(expression)
        assert query._selection is None, expression
        table, _ = index.load_table(root, query.fields())
        assert query.search_table(table) == jmespath.search(expression, records)


@pytest.mark.slow  # six commands
def test_a_first_query_over_many_segments_reads_them_on_every_core_as_one_would(
    tmp_path: Path,
) -> None:
    """Segments read from their records by forked workers (a first `expman query` over
    several segments, in a process of its own: no other thread) give the records, the
    damaged ones and the cache that one process would."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core: segments are read in the query's own process")
    root = tmp_path / "runs"
    records = []
    for number in (1, 2, 1001, 2001, 2002, 3001, 5001):  # five segments of 1,000 ids
        record = _record(number)
        folder = root / record["id"]
        folder.mkdir(parents=True)
        (folder / "run.json").write_text(json.dumps(record))
        records.append(record)
    (root / "2002" / "run.json").write_text("{not json")  # damaged
    records.pop(4)
    for path in root.glob("*/run.json"):
        os.utime(path, (1e9, 1e9))  # old enough to be cached
    for expression in ("[?a != `0`]", "@"):
        expected = jmespath.search(expression, records)
        for cache in ("cold", "warm"):
            shutil.rmtree(root / ".cache", ignore_errors=cache == "cold")
            if cache == "warm":
                _query(root, expression)  # builds it
            found, err = _query(root, expression)
            assert found == expected, (expression, cache)
            assert err.count("skipped") == 1 and "2002" in err, (expression, cache)
    assert len(list((root / ".cache").glob("*/*/index.marshal"))) == 5  # each cached


def _query(root: Path, expression: str) -> tuple[Any, str]:
    command = [str(BIN / "expman"), "query", "--archive", str(root), expression]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout), done.stderr


def test_a_cached_leaf_column_is_read_again_when_a_record_changes_in_place(
    tmp_path: Path,
) -> None:
    """A path into a field (`nested.x`), cached as a column of its own, is keyed by the
    records' signatures as every column is: an edit that keeps the size and puts the
    modification time back is seen."""
    root = tmp_path / "runs"
    for number in (1, 2):
        folder = root / f"{number:04d}"
        folder.mkdir(parents=True)
        (folder / "run.json").write_text(
            json.dumps({"id": folder.name, "status": "succeeded", "nested": {"x": 10}})
        )
        os.utime(folder / "run.json", (1e9, 1e9))  # old enough to be cached
    expression = "[?nested.x > `5`].nested.x"
    assert _query(root, expression)[0] == [10, 10]
    assert list((root / ".cache").glob("*/*/leaf-*.marshal")), "the leaf was cached"
    assert _query(root, expression)[0] == [10, 10]  # from the cache
    path = root / "0002" / "run.json"
    with path.open("r+") as f:  # the same inode and size, as `cp -p` leaves it
        f.write(path.read_text().replace('"x": 10', '"x": 99'))
    os.utime(path, (1e9, 1e9))
    assert _query(root, expression)[0] == [10, 99]


def test_the_cached_listing_of_run_folders_sees_every_change_of_the_folder(
    tmp_path: Path,
) -> None:
    """The run ids are cached under the archive folder's signature: a run folder added,
    removed, or replaced by a link (which is no run) is seen at once, whatever times the
    folder is given back."""
    root = tmp_path / "runs"

    def add(number: int) -> None:
        record = _record(number)
        (root / record["id"]).mkdir(parents=True)
        (root / record["id"] / "run.json").write_text(json.dumps(record))
        os.utime(root / record["id"] / "run.json", (1e9, 1e9))

    for number in (1, 2, 3):
        add(number)

    def ids() -> list[str]:
        table, _ = index.load_table(Archive(root), ["id"])
        return table.folders(range(len(table)))

    assert ids() == ["0001", "0002", "0003"]
    assert ids() == ["0001", "0002", "0003"]
    assert list((root / ".cache").glob("*/ids.marshal")), "the listing was cached"
    times = root.stat()
    changes: list[Callable[[], object]] = [
        lambda: add(4),
        lambda: shutil.rmtree(root / "0001"),
        lambda: shutil.move(root / "0002", tmp_path / "away"),
        lambda: (root / "0002").symlink_to(tmp_path / "away"),
    ]
    expected = [
        ["0001", "0002", "0003", "0004"],
        ["0002", "0003", "0004"],
        ["0003", "0004"],
        ["0003", "0004"],
    ]
    for change, after in zip(changes, expected, strict=True):
        assert ids() == ids()  # cached
        change()
        os.utime(root, ns=(times.st_atime_ns, times.st_mtime_ns))  # the time put back
        assert ids() == after

"""The archive's records in memory, by column: what a query filters without building a
record per run, and the records it builds only when asked.

`Table` holds the wanted fields of records as columns (one value per record, `ABSENT` where
a record lacks the field) and paths into them (`metrics.acc`) as columns of their own
(`Table.leaves`), with each record's own key order, so that rows come out as the same bytes
whichever fields were loaded. `Table.rows` builds `LazyRecord`s, which complete themselves
from `run.json` as soon as anything else is asked of them; `Table.one_by_one` builds each
only when it is indexed (`Rows`). The record cache (`index`) fills tables; it is the only
maker of one.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar, overload

from expman.store.archive import read_record

ABSENT = ()  # JSON never loads as a tuple: marks a field a record does not have
Leaf = tuple[str, ...]  # a path of two names or more into a record: `("metrics", "acc")`
_Name = TypeVar("_Name", str, Leaf)  # what names a column: a field, or a leaf


class LazyRecord(dict[str, Any]):
    """A record holding only some fields; anything else asked of it loads the whole record.

    `get` is what JMESPath uses for field access; the other dict methods it (or a caller)
    may use load the record first. `complete()` does so explicitly, before output.
    """

    __slots__ = ("_complete", "_keys", "_path")

    def __init__(
        self,
        fields: dict[str, Any],
        path: str,
        complete: bool,
        keys: tuple[str, ...] | frozenset[str] = (),
    ) -> None:
        super().__init__(fields)
        self._path = path
        self._complete = complete
        self._keys = keys  # every key the record has, when known: others are absent

    @property
    def folder(self) -> str:
        """The name of the run folder the record was read from: the run's id (SPEC §13),
        whatever the record itself says."""
        return folder_of(self._path)

    def complete(self) -> LazyRecord:
        """Load every field (from run.json) if not done yet, in the record's own key
        order; returns self."""
        if not self._complete:
            self._complete = True
            with contextlib.suppress(ValueError):  # damaged since: keep what the cache had
                whole = read_record(Path(self._path))
                dict.clear(self)
                dict.update(self, whole)
        return self

    def get(self, key: str, default: Any = None) -> Any:
        if not self._complete and not dict.__contains__(self, key):
            if self._keys and key not in self._keys:
                return default  # the record has no such field: nothing to load
            self.complete()
        return dict.get(self, key, default)

    def __getitem__(self, key: str) -> Any:
        return dict.__getitem__(self.complete(), key)

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self.complete(), key)

    def __iter__(self) -> Iterator[str]:
        return dict.__iter__(self.complete())

    def __len__(self) -> int:
        return dict.__len__(self.complete())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyRecord):
            other.complete()
        return dict.__eq__(self.complete(), other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None

    def keys(self) -> Any:
        return dict.keys(self.complete())

    def values(self) -> Any:
        return dict.values(self.complete())

    def items(self) -> Any:
        return dict.items(self.complete())

    def copy(self) -> dict[str, Any]:
        return dict(self.complete())


def complete_all(value: Any) -> Any:
    """`value` with every LazyRecord inside it completed: ready for output."""
    if isinstance(value, LazyRecord):
        value.complete()
        for item in dict.values(value):
            complete_all(item)
    elif isinstance(value, dict):
        for item in value.values():
            complete_all(item)
    elif isinstance(value, list):
        for item in value:
            complete_all(item)
    return value


def folder_of(path: str) -> str:
    """The name of the run folder of a record's path, `<archive>/<folder>/run.json`."""
    return path.rsplit("/", 2)[-2]


class Table:
    """The wanted fields of the archive's readable records by column, oldest first: what a
    query filters without building a record per run. `rows` builds the records.

    `columns` maps a field to one value per record (`ABSENT` where a record lacks it);
    `leaves` a path into the records the same way (`ABSENT` where a record does not reach
    it); `orders` holds each record's own key order, `paths` its run.json.
    """

    __slots__ = ("columns", "complete", "leaves", "orders", "paths")

    def __init__(self, complete: bool) -> None:
        self.paths: list[str] = []
        self.columns: dict[str, list[Any]] = {}
        self.leaves: dict[Leaf, list[Any]] = {}
        self.orders: list[tuple[str, ...]] = []
        self.complete = complete  # every field is there: records need no loading

    def __len__(self) -> int:
        return len(self.paths)

    def folders(self, positions: Iterable[int]) -> list[str]:
        """The run folders' names (the runs' ids) of the records at `positions`."""
        paths = self.paths
        return [folder_of(paths[i]) for i in positions]

    def extend(self, other: Table) -> None:
        """Append the records of `other`."""
        before, added = len(self.paths), len(other.paths)
        _append(self.columns, other.columns, before, added)
        _append(self.leaves, other.leaves, before, added)
        self.paths.extend(other.paths)
        self.orders.extend(other.orders)

    def one_by_one(self) -> Sequence[Any]:
        """The records as a sequence that builds each only when it is asked for (what a
        look at the first few records needs, never all of them)."""
        return Rows(self)

    def rows(self, positions: Iterable[int] | None = None) -> list[Any]:
        """Records (or the wanted part of them) at `positions` (all by default), each in its
        own key order, so that output is the same bytes whichever fields were loaded."""
        names = list(self.columns)
        lists = list(self.columns.values())
        # Records share a few key orders: for each, which columns to take, in that order.
        plans: dict[int, tuple[tuple[str, ...], tuple[list[Any], ...]]] = {}
        rows = []
        paths, orders, complete = self.paths, self.orders, self.complete
        with no_collector():
            for position in range(len(paths)) if positions is None else positions:
                order = orders[position]
                plan = plans.get(id(order))
                if plan is None:
                    keys = tuple(key for key in order if key in self.columns)
                    plan = plans[id(order)] = (keys, tuple(lists[names.index(k)] for k in keys))
                keys, taken_from = plan
                taken = [column[position] for column in taken_from]
                if ABSENT in taken:  # a field this record lacks
                    fields = {
                        k: v for k, v in zip(keys, taken, strict=True) if type(v) is not tuple
                    }
                else:
                    fields = dict(zip(keys, taken, strict=True))
                rows.append(LazyRecord(fields, paths[position], complete, order))
        return rows


def _append(
    mine: dict[_Name, list[Any]], theirs: dict[_Name, list[Any]], before: int, added: int
) -> None:
    """Columns of `added` more records appended to columns of `before` records."""
    for name, column in mine.items():
        column.extend(theirs.get(name, ()) or [ABSENT] * added)
    for name, column in theirs.items():
        if name not in mine:
            mine[name] = [ABSENT] * before + column


class Rows(Sequence[Any]):
    """`Table.one_by_one`: a table's records, each built when indexed."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def reaches(self, path: tuple[str, ...]) -> bool | None:
        """Whether any record has a value at `path` (`("metrics", "acc")`), where a column
        of the table says; None where none does."""
        table = self.table
        column = table.columns.get(path[0]) if len(path) == 1 else table.leaves.get(path)
        if column is None:
            return None
        return any(type(value) is not tuple for value in column)  # not all ABSENT

    def __len__(self) -> int:
        return len(self.table)

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return self.table.rows(range(len(self.table))[index])
        return self.table.rows([range(len(self.table))[index]])[0]


@contextlib.contextmanager
def no_collector() -> Iterator[None]:
    """Records hold no cycles: the collector, run again and again as they are made, only
    doubled the time of reading them."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()

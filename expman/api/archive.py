"""`open` and `Archive`: an archive found as the command line finds it, its runs as a
table (through the record cache), one run, and curves in long format."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from expman.api import columns as naming
from expman.api.run import Run, long_format
from expman.api.table import Table
from expman.errors import ArchiveError
from expman.expfile import location
from expman.store import archive as store
from expman.store import index, recordtable
from expman.store.objects import OBJECTS_DIR
from expman.store.query import Query


class DamagedRecordWarning(UserWarning):
    """A run whose record cannot be read was skipped (the message names it)."""


def open(path: str | os.PathLike[str] | None = None) -> Archive:
    """The archive at `path`: an archive folder, an experiment's folder or its expfile
    (its `archive` setting), or, as the command line finds it, the experiment holding
    `path` (default: the working folder). `UsageError` when there is none."""
    start = Path.cwd() if path is None else Path(path).absolute()
    if start.is_file() and start.name == location.EXPFILE:
        expfile = start
    elif not start.is_dir():
        raise ArchiveError(f"{start}: no such folder")
    elif (start / location.EXPFILE).is_file():
        expfile = start / location.EXPFILE
    elif _is_archive(start):
        return Archive(start)
    else:
        expfile = location.find(start)
    return Archive(expfile.parent / location.archive_setting(expfile))


def _names(given: Iterable[Any] | str | int) -> list[str]:
    """The names given: one text or number is one name (`columns="vars.LR"`, `runs=3`),
    never taken letter by letter."""
    if isinstance(given, str | int):
        return [str(given)]
    return [str(name) for name in given]


def _is_archive(folder: Path) -> bool:
    """Whether `folder` holds runs (or what only an archive holds)."""
    if (folder / ".archive.json").is_file() or (folder / OBJECTS_DIR).is_dir():
        return True
    return bool(store.Archive(folder).end_ids(1, newest=True))


class Archive:
    """An archive of runs, read only: nothing here takes a lock a writer waits on."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._store = store.Archive(root)

    def __repr__(self) -> str:
        return f"<expman Archive {self.root}>"

    def runs(self, where: str | None = None, columns: Iterable[str] | str | None = None) -> Table:
        """The runs, oldest first, one row each: those for which the JMESPath condition
        `where` holds (the dialect of `expman query`, on each record), under `columns`
        named by the column naming rule (default: `columns.DEFAULT`)."""
        return self._runs(where, columns)

    def _runs(self, where: str | None, columns: Iterable[str] | str | None) -> Table:
        """`runs`, called by a public method of the API (`runs`, `series`)."""
        asked = None if columns is None else _names(columns)
        condition = Query(where) if where else None
        needed = naming.top_fields(naming.DEFAULT if asked is None else asked)
        table = self._table(needed | (condition.fields() if condition else set()))
        positions = None if condition is None else condition.positions(table)
        data = _columns(table, needed, positions)
        names = naming.default(data) if asked is None else naming.expand(asked, data)
        absent = [None] * len(data["id"])
        return Table(names, {name: data.get(name) or list(absent) for name in names})

    def run(self, name: str | int) -> Run:
        """One run: `0007`, `7` (a text or a number), `last` or `last~2`; `ArchiveError`
        when there is no such run or its record is damaged."""
        run_id = self._store.resolve(str(name))
        return Run(self._store.run_dir(run_id), self._store.read(run_id))

    def series(
        self,
        runs: Table | Iterable[str | int] | str | int | None = None,
        metrics: Iterable[str] | str | None = None,
        sampled: bool = True,
        columns: Iterable[str] | str = (),
    ) -> Table:
        """Curves in long format, one row per point: `id step metric value`, then the
        `columns` asked of each run (`vars.LR`). `runs`: a table of `runs()`, ids or
        names (default: every run); `metrics`: which (default: all); `sampled`: the
        down-sampled curves (about 2,000 points each), else every point logged."""
        extra = [c for c in _names(columns) if c not in ("id", "step", "metric", "value")]
        chosen = self._chosen(runs)
        table = self._runs(None, ["id", *extra])
        cells = {row["id"]: row for row in table.rows() if row["id"] in chosen}
        picked = [(Run(self._store.run_dir(i), {}), cells[i]) for i in chosen if i in cells]
        return long_format(picked, None if metrics is None else _names(metrics), sampled, extra)

    def _chosen(self, runs: Table | Iterable[str | int] | str | int | None) -> dict[str, None]:
        if runs is None:
            return dict.fromkeys(self._store.ids())
        listed = set(self._store.ids())
        asked = runs.column("id") if isinstance(runs, Table) else _names(runs)
        # An id the archive lists is taken as it is (a name is resolved: one listing each).
        return dict.fromkeys(i if i in listed else self._store.resolve(str(i)) for i in asked)

    def _table(self, fields: set[str]) -> recordtable.Table:
        """The records holding `fields`, as a table; a warning for each damaged one, shown
        at the line that called the API (`runs` or `series`, then `_runs`, then here)."""
        table, damaged = index.load_table(self._store, fields)
        for bad in damaged:
            warnings.warn(f"skipped {bad.reason}", DamagedRecordWarning, stacklevel=4)
        return table


def _columns(
    table: recordtable.Table, fields: set[str], positions: list[int] | None
) -> dict[str, list[Any]]:
    """Every column the `fields` of the table's records at `positions` (all by default)
    give (the naming rule), top to bottom, taken a field at a time: out of the table,
    whose records' values are let go a field at a time (peak memory)."""
    rows = range(len(table)) if positions is None else positions
    data: dict[str, list[Any]] = {"id": table.folders(rows)}
    for field in sorted(fields - {"id"}):
        values = table.columns.pop(field, None)
        if values is not None:
            taken = values if positions is None else [values[i] for i in positions]
            # recordtable.ABSENT (a tuple, which JSON never gives) where a record lacks the field
            data.update(naming.spread(field, [None if type(v) is tuple else v for v in taken]))
    return data

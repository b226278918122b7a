"""`Run`: one run's record, its files (as paths checked to stay inside its folder,
never through a link) and its series."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from expman.api import columns, html
from expman.api.curves import curves
from expman.api.table import Table
from expman.store.objects import open_below
from expman.store.runfiles import inside


class Run:
    """One run of an archive, as its record was when it was opened."""

    def __init__(self, folder: Path, record: Mapping[str, Any]) -> None:
        self.folder = folder
        self.id = folder.name
        self.record = record

    def __repr__(self) -> str:
        return f"<expman Run {self.id} ({self.record.get('status')})>"

    @property
    def row(self) -> dict[str, Any]:
        """The run as one row of cells (the column naming rule), every field of it."""
        cells: dict[str, Any] = {"id": self.id}
        for field, value in self.record.items():
            if field != "id":
                cells.update(columns.flatten(field, value))
        return cells

    def outputs(self) -> dict[str, Path]:
        """The outputs the record names, by their path below `outputs/`, each a regular
        file inside the run folder (an output archived as a link, or one that is missing
        or not a plain file now, is left out)."""
        named = self.record.get("outputs")
        entries = named if isinstance(named, list) else []
        paths = [e.get("path") for e in entries if isinstance(e, dict) and "link" not in e]
        return {p: path for p in paths if inside(p) and (path := self._file(f"outputs/{p}"))}

    def logs(self) -> dict[str, Path]:
        """The log files of the last attempt's steps, by path in the run folder
        (`logs/run.out`), each a regular file inside the run folder."""
        found: dict[str, Path] = {}
        steps = self.record.get("stages")
        for step in steps if isinstance(steps, list) else []:
            logs = step.get("logs") if isinstance(step, dict) else None
            for name in logs if isinstance(logs, list) else []:
                path = self._file(name)
                if path is not None:
                    found[name] = path
        return found

    def open(self, relative: str) -> BinaryIO:
        """A file of the run folder opened for reading (`outputs/model.pt`), one folder
        at a time and never through a link; `OSError` otherwise."""
        if not inside(relative):
            raise ValueError(f"{relative!r} is not a path inside a run folder")
        return os.fdopen(open_below(self.folder, relative), "rb")

    def series(self, metrics: Iterable[str] | str | None = None, sampled: bool = True) -> Table:
        """The run's curves in long format: `id step metric value` (see `Archive.series`);
        `metrics` a name or names."""
        wanted = None if metrics is None else [metrics] if isinstance(metrics, str) else metrics
        return long_format([(self, {})], None if wanted is None else list(wanted), sampled, [])

    def _file(self, relative: object) -> Path | None:
        """`folder/relative` when it is a regular file reached without a link."""
        if not inside(relative):
            return None
        path = self.folder
        for part in relative.split("/"):
            path = path / part
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                return None
            if stat.S_ISLNK(mode):
                return None
        return path if stat.S_ISREG(mode) else None

    def _repr_html_(self) -> str:
        shown = {k: v for k, v in self.row.items() if k in _SHOWN or k.startswith(_GROUPS)}
        files = {**self.outputs(), **self.logs()}
        return html.fields(f"run {self.id} ({self.record.get('status')})", shown, files)


_SHOWN = frozenset([*columns.FIRST, "hypothesis", "observations", "code.commit"])
_GROUPS = tuple(f"{g}." for g in columns.GROUPS)


def long_format(
    runs: list[tuple[Run, dict[str, Any]]],
    metrics: list[str] | None,
    sampled: bool,
    extra: list[str],
) -> Table:
    """Points of runs' curves, one per row: `id step metric value`, then the `extra`
    columns of each run (its cells given beside it)."""
    names = ["id", "step", "metric", "value", *extra]
    data: dict[str, list[Any]] = {name: [] for name in names}
    wanted = None if metrics is None else set(metrics)
    for run, cells in runs:
        for metric, (steps, values) in curves(run.folder, sampled).items():
            if wanted is not None and metric not in wanted:
                continue
            count = len(steps)
            data["id"].extend([run.id] * count)
            data["step"].extend(steps)
            data["metric"].extend([metric] * count)
            data["value"].extend(values)
            for name in extra:
                data[name].extend([cells.get(name)] * count)
    return Table(names, data)

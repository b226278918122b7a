"""`Table`: named columns of equal length, shown as HTML in a notebook and handed to
pandas or polars (neither is a dependency: the package to install is named)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from expman.api import html


class Table:
    """Rows of cells under named columns; the same archive gives the same table."""

    def __init__(self, columns: list[str], data: dict[str, list[Any]]) -> None:
        self.columns = list(columns)
        self._data = data
        self._length = len(data[columns[0]]) if columns else 0

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows())

    def __repr__(self) -> str:
        return f"<expman Table: {self._length} rows x {len(self.columns)} columns>"

    def column(self, name: str) -> list[Any]:
        """The cells of one column, top to bottom (`KeyError` when there is none)."""
        return list(self._data[name])

    def rows(self) -> list[dict[str, Any]]:
        """Each row as a dict from column name to cell, in column order."""
        lists = [self._data[c] for c in self.columns]
        return [dict(zip(self.columns, cells, strict=True)) for cells in zip(*lists, strict=True)]

    def to_pandas(self) -> Any:
        """A `pandas.DataFrame` with these columns, in this order."""
        pandas = _optional("pandas", "to_pandas")
        return pandas.DataFrame({c: self._data[c] for c in self.columns}, columns=self.columns)

    def to_polars(self) -> Any:
        """A `polars.DataFrame` with these columns; a column whose cells have no common
        polars type (numbers beside texts) holds Python objects."""
        polars = _optional("polars", "to_polars")
        series = []
        for name in self.columns:
            try:
                series.append(polars.Series(name, self._data[name], strict=False))
            except (TypeError, ValueError, OverflowError, polars.exceptions.PolarsError):
                series.append(polars.Series(name, self._data[name], dtype=polars.Object))
        return polars.DataFrame(series)

    def _repr_html_(self) -> str:
        return html.table(self.columns, [[row[c] for c in self.columns] for row in self.rows()])


def _optional(package: str, method: str) -> Any:
    """The optional package, imported; a `ModuleNotFoundError` naming it otherwise."""
    import importlib

    try:
        return importlib.import_module(package)
    except ModuleNotFoundError as e:
        raise ModuleNotFoundError(
            f"Table.{method}() needs {package}, which is not installed: pip install {package}",
            name=package,
        ) from e

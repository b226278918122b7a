"""expman: record every run of an experiment as plain files.

`expman.log(step=..., **values)` is for the scripts that expman runs: it appends one point
of metric series to the file named by `EXPMAN_METRICS`. Importing expman costs next to
nothing (nothing is imported until `log` is first called), and outside expman (no
`EXPMAN_METRICS`) `log` does nothing.

`expman.open(path)` reads an archive from Python (`expman.api`): the read API is imported
when one of its names is first asked of the package, so `import expman` stays as cheap.
"""

import os as _os

__version__ = "0.1.0"

_warned: set[str] = set()
TYPE_CHECKING = False  # typing's own costs an import; type checkers know this name
if TYPE_CHECKING:  # the lazy names' types, for type checkers only
    from expman.api import Archive as Archive
    from expman.api import DamagedRecordWarning as DamagedRecordWarning
    from expman.api import Run as Run
    from expman.api import Table as Table
    from expman.api import open as open

_API = frozenset(["open", "Archive", "Run", "Table", "DamagedRecordWarning"])


def __getattr__(name: str) -> object:
    """The read API's names, imported when first asked (`expman.open`)."""
    if name in _API:
        from expman import api

        return getattr(api, name)
    raise AttributeError(f"module 'expman' has no attribute {name!r}")


def log(step: "int | float | None" = None, **values: object) -> None:
    """Append `{"step": step, **values}` as one line to `$EXPMAN_METRICS`.

    Numbers are metrics (NumPy and PyTorch scalars too: anything with `.item()`); `step`
    may be left out, and the line's position then serves. Never raises: a step that is
    not a finite number leaves the point out, and a write that fails goes on; each is
    said once on stderr, and the script goes on.
    """
    path = _os.environ.get("EXPMAN_METRICS")
    if not path:
        return
    import json

    if step is not None:
        native = type(step) in (int, float) or isinstance(step, bool)
        step = _finite(step if native else _plain(step))  # a bool is no step
        if step is None:
            _warn("step", "expman.log: step is not a finite number: the point is not logged")
            return
    point = values if step is None else {"step": step, **values}
    line = json.dumps(point, default=_plain, ensure_ascii=False) + "\n"
    try:
        fd = _os.open(path, _os.O_WRONLY | _os.O_APPEND | _os.O_CREAT, 0o644)
        try:
            _os.write(fd, line.encode("utf-8"))
        finally:
            _os.close(fd)
    except OSError as e:
        _warn("file", f"expman.log: cannot write {path}: {e.strerror or e}")


def _warn(kind: str, message: str) -> None:
    if kind not in _warned:
        _warned.add(kind)
        import sys

        print(message, file=sys.stderr)


def _finite(value: object) -> "int | float | None":
    """A step as a finite number, or None (NaN, an infinity, a bool, not a number)."""
    import math

    if type(value) not in (int, float):
        return None
    try:
        return value if math.isfinite(value) else None  # type: ignore[arg-type,return-value]
    except OverflowError:  # an integer too big for a float
        return None


def _plain(value: object) -> object:
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return item()
        except Exception:  # any: PyTorch raises RuntimeError for a tensor of many elements
            pass
    try:
        return float(value)  # type: ignore[arg-type]
    except Exception:  # whatever an object's __float__ raises: it is no number
        return str(value)

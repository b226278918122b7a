"""expman: record every run of an experiment as plain files.

`expman.log(step=..., **values)` is for the scripts that expman runs: it appends one point
of metric series to the file named by `EXPMAN_METRICS`. Importing expman costs next to
nothing (nothing is imported until `log` is first called), and outside expman (no
`EXPMAN_METRICS`) `log` does nothing.
"""

import os as _os

__version__ = "0.1.0"

_warned = False


def log(step: "int | float | None" = None, **values: object) -> None:
    """Append `{"step": step, **values}` as one line to `$EXPMAN_METRICS`.

    Numbers are metrics (NumPy and PyTorch scalars too: anything with `.item()`); `step`
    may be left out, and the line's position then serves. Never raises for the file: a
    write that fails is said once on stderr, and the script goes on.
    """
    path = _os.environ.get("EXPMAN_METRICS")
    if not path:
        return
    import json

    point = values if step is None else {"step": step, **values}
    line = json.dumps(point, default=_plain, ensure_ascii=False) + "\n"
    try:
        fd = _os.open(path, _os.O_WRONLY | _os.O_APPEND | _os.O_CREAT, 0o644)
        try:
            _os.write(fd, line.encode("utf-8"))
        finally:
            _os.close(fd)
    except OSError as e:
        global _warned
        if not _warned:
            _warned = True
            import sys

            print(f"expman.log: cannot write {path}: {e.strerror or e}", file=sys.stderr)


def _plain(value: object) -> object:
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return item()
        except (TypeError, ValueError):
            pass
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)

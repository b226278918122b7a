"""A run's metric series as points: the full series from `series.jsonl` (read by the
same `seriesreader.Reader` that summarised it, so with the same rules for untrusted lines), or
the down-sampled curves of `series.sampled.json`; of a run in flight, its live file."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from expman.observe import curve, series, seriesreader

Curve = tuple[list[Any], list[Any]]  # steps, values


def curves(folder: Path, sampled: bool) -> dict[str, Curve]:
    """Each metric's points, by name (sorted); a run without series has none."""
    if sampled:
        found = _sampled_file(folder)
        if found is not None:
            return found
    for path in (folder / series.FILE, folder / series.LIVE / series.FILE):
        reader = seriesreader.Reader(path, curve.BUCKETS if sampled else curve.FULL)
        reader.poll(complete=path.parent == folder)  # a live file's last line may be torn
        if reader.offset:
            reader.sampled()  # each curve down to its final size (none for `FULL`)
            return {n: (s.steps, s.values) for n, s in sorted(reader.samplers.items())}
    return {}


def _sampled_file(folder: Path) -> dict[str, Curve] | None:
    """The curves of `series.sampled.json` (`series.read_sampled`: never through a link,
    nor from a pipe, nor a huge one); None when there is no such file or it is not what
    expman writes."""
    data = series.read_sampled(folder)
    if not isinstance(data, dict):
        return None
    found: dict[str, Curve] = {}
    for name, points in sorted(data.items()):
        if not _is_curve(points):
            return None
        values = points["value"]
        if None in values:  # a value no float holds finitely: NaN in the sampled file
            values = [math.nan if v is None else v for v in values]
        found[name] = (points["step"], values)
    return found


def _is_curve(points: Any) -> bool:
    if not isinstance(points, dict):
        return False
    steps, values = points.get("step"), points.get("value")
    return (
        isinstance(steps, list)
        and isinstance(values, list)
        and len(steps) == len(values)
        and set(map(type, steps)) <= _NUMBERS  # each checked in C: a curve has thousands
        and set(map(type, values)) <= _NUMBERS | {type(None)}
    )


_NUMBERS = frozenset([int, float])

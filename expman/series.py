"""Metric series: the JSON lines that stages append to `$EXPMAN_METRICS`.

A line is one JSON object, e.g. `{"step": 12, "loss": 0.31, "acc": 0.88}`. Every key
but `step` whose value is a number is a metric; the point's step is its `step` when that
is a number, else the line's position among the file's objects (0, 1, ...). Other lines
(not JSON, not an object) are skipped and counted. A last line without its newline may be
half written: it is read only when the file is complete (the attempt is over) and it
parses.

`Reader` reads the file incrementally, so that the runner can keep up while the stages
write (a million points are then not read at the end of the attempt), and keeps, for each
metric, its summary (count, first, last, min and its step, max and its step) and a
down-sampled curve of bounded size (`Sampler`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from expman.objects import ObjectStore, hash_file

FILE = "series.jsonl"  # in the run folder while the attempt runs; `$EXPMAN_METRICS`
SAMPLED = "series.sampled.json"  # each metric's down-sampled curve, for the report
BUCKETS = 512  # a sampled curve keeps at most 4 points per bucket: about 2,000 points
_CHUNK = 1 << 22


class Summary:
    """One metric's summary, updated a batch of points at a time."""

    __slots__ = ("count", "first", "last", "max", "max_step", "min", "min_step")

    def __init__(self) -> None:
        self.count = 0
        self.first = self.last = self.min = self.max = math.nan
        self.min_step: float = 0
        self.max_step: float = 0

    def add(self, steps: list[float], values: list[float]) -> None:
        """Points in the order they were written (both lists of the same length)."""
        if not values:
            return
        if not self.count:
            self.first = values[0]
        self.count += len(values)
        self.last = values[-1]
        total = sum(values)
        if not math.isfinite(total):  # NaN or infinities among them (or an overflow)
            kept = [i for i, v in enumerate(values) if math.isfinite(v)]
            if not kept:
                return
            steps = [steps[i] for i in kept]
            values = [values[i] for i in kept]
        low = min(range(len(values)), key=values.__getitem__)
        high = max(range(len(values)), key=values.__getitem__)
        if not values[low] >= self.min:  # also true while min is still NaN
            self.min, self.min_step = values[low], steps[low]
        if not values[high] <= self.max:
            self.max, self.max_step = values[high], steps[high]

    def record(self) -> dict[str, Any]:
        """As the record holds it: strict JSON (non-finite values as text, as in metrics)."""
        finite = math.isfinite(self.min)
        return {
            "count": self.count,
            "first": _strict(self.first),
            "last": _strict(self.last),
            "min": self.min if finite else None,
            "min_step": _number(self.min_step) if finite else None,
            "max": self.max if finite else None,
            "max_step": _number(self.max_step) if finite else None,
        }


class Sampler:
    """A curve down-sampled in bounded memory: the points fall into buckets of `width`
    consecutive points, and each bucket keeps its first, lowest, highest and last point,
    so spikes and the overall shape survive. Points are kept as they come until there are
    too many; then the buckets are formed, wide enough for at most `buckets` of them, and
    (widths doubling, so that buckets nest) formed again as more arrive."""

    def __init__(self, buckets: int = BUCKETS) -> None:
        self.buckets = buckets
        self.width = 1
        self.seen = 0
        self.index: list[int] = []
        self.steps: list[float] = []
        self.values: list[float] = []

    def add(self, steps: list[float], values: list[float]) -> None:
        self.index.extend(range(self.seen, self.seen + len(values)))
        self.seen += len(values)
        self.steps.extend(steps)
        self.values.extend(values)
        if len(self.values) > 16 * self.buckets:
            self._reduce()

    def _reduce(self) -> None:
        while self.seen > self.width * self.buckets:
            self.width *= 2
        keep: list[int] = []
        start = 0
        n = len(self.index)
        while start < n:
            bucket = self.index[start] // self.width
            stop = start
            while stop < n and self.index[stop] // self.width == bucket:
                stop += 1
            keep.extend(_chosen(self.values, start, stop))
            start = stop
        self.index = [self.index[i] for i in keep]
        self.steps = [self.steps[i] for i in keep]
        self.values = [self.values[i] for i in keep]

    def points(self) -> dict[str, list[Any]]:
        """The kept points in order: `{"step": [...], "value": [...]}` (non-finite: null)."""
        if len(self.values) > 4 * self.buckets:
            self._reduce()
        return {
            "step": [_number(s) for s in self.steps],
            "value": [v if math.isfinite(v) else None for v in self.values],
        }


def _chosen(values: list[float], start: int, stop: int) -> list[int]:
    """Positions of a bucket's first, lowest, highest and last points (NaN is neither)."""
    if stop - start <= 4:
        return list(range(start, stop))
    finite = [i for i in range(start, stop) if math.isfinite(values[i])] or [start]
    low = min(finite, key=values.__getitem__)
    high = max(finite, key=values.__getitem__)
    return sorted({start, low, high, stop - 1})


class Reader:
    """The series file of one attempt, read as it grows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0  # bytes consumed: complete lines only
        self.lines = 0  # objects read (the default step of the next one)
        self.skipped = 0
        self.first_skipped: int | None = None  # its line number, for the message
        self.summaries: dict[str, Summary] = {}
        self.samplers: dict[str, Sampler] = {}
        self._line_number = 0

    def poll(self, complete: bool = False) -> None:
        """Read what was appended since the last call. With `complete`, the writers are
        gone: a last line without its newline is read too, if it parses."""
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                while chunk := f.read(_CHUNK):
                    end = chunk.rfind(b"\n") + 1
                    if end == 0 and len(chunk) == _CHUNK:  # one line longer than a chunk
                        rest = f.readline()
                        chunk, end = chunk + rest, len(chunk) + len(rest)
                        if not rest.endswith(b"\n"):
                            end = 0
                    if end == 0:
                        break
                    self._lines(chunk[:end])
                    self.offset += end
                    f.seek(self.offset)
                if complete:
                    f.seek(self.offset)
                    tail = f.read()
                    if tail.strip():
                        try:
                            value = json.loads(tail)
                        except ValueError:
                            value = None
                        if isinstance(value, dict):
                            self._lines(tail + b"\n")
                        self.offset += len(tail)
        except FileNotFoundError:
            return

    def _lines(self, data: bytes) -> None:
        lines = data.count(b"\n")
        try:  # the usual case: every line an object, parsed at once
            parsed = json.loads(b"[" + data[:-1].replace(b"\n", b",") + b"]")
        except ValueError:
            parsed = None
        if not isinstance(parsed, list) or set(map(type, parsed)) != {dict}:
            numbered = enumerate(data.split(b"\n")[:-1], self._line_number + 1)
            parsed = [self._one(n, line) for n, line in numbered]
        self._line_number += lines
        self._points([o for o in parsed if o is not None])

    def _one(self, number: int, line: bytes) -> dict[str, Any] | None:
        if not line.strip():
            return None
        try:
            value = json.loads(line)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return value
        self.skipped += 1
        if self.first_skipped is None:
            self.first_skipped = number
        return None

    def _points(self, objects: list[dict[str, Any]]) -> None:
        if not objects:
            return
        steps = [o.get("step") for o in objects]
        if set(map(type, steps)) != {int}:
            steps = [s if _is_number(s) else self.lines + i for i, s in enumerate(steps)]
        self.lines += len(objects)
        for name in set().union(*objects) - {"step"}:
            values = [o.get(name) for o in objects]
            if set(map(type, values)) <= {float, int}:
                points_steps, points = steps, values
            else:
                kept = [i for i, v in enumerate(values) if _is_number(v)]
                if not kept:
                    continue
                points_steps = [steps[i] for i in kept]
                points = [values[i] for i in kept]
            if name not in self.summaries:
                self.summaries[name] = Summary()
                self.samplers[name] = Sampler()
            self.summaries[name].add(points_steps, points)  # type: ignore[arg-type]
            self.samplers[name].add(points_steps, points)  # type: ignore[arg-type]

    def summary(self) -> dict[str, dict[str, Any]]:
        """Each metric's summary as the record holds it, by name."""
        return {name: s.record() for name, s in sorted(self.summaries.items())}

    def sampled(self) -> dict[str, dict[str, list[Any]]]:
        """Each metric's down-sampled curve, by name."""
        return {name: s.points() for name, s in sorted(self.samplers.items())}

    def problem(self) -> str | None:
        """What was skipped, for the attempt's `series_error`; None when nothing was."""
        if not self.skipped:
            return None
        lines = "line is" if self.skipped == 1 else "lines are"
        return (
            f"{FILE}: {self.skipped} {lines} not a JSON object and skipped "
            f"(the first: line {self.first_skipped})"
        )


def tail(path: Path, points: int = 24, size: int = 1 << 16) -> dict[str, list[float]]:
    """The last values of each metric (at most `points`, oldest first) from the end of a
    series file, without reading all of it: what `watch` shows while a run runs."""
    try:
        with path.open("rb") as f:
            f.seek(0, 2)
            length = f.tell()
            f.seek(max(0, length - size))
            data = f.read()
    except OSError:
        return {}
    lines = data.split(b"\n")
    if length > size:
        lines = lines[1:]  # probably cut
    found: dict[str, list[float]] = {}
    for line in lines:
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if not isinstance(value, dict):
            continue
        for name, number in value.items():
            if name != "step" and _is_number(number):
                found.setdefault(name, []).append(float(number))
    return {name: values[-points:] for name, values in found.items()}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(value: float) -> float | int:
    """A step as JSON wants it: integral steps stay integers."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _strict(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def keep(reader: Reader, run_dir: Path, store: ObjectStore) -> str | None:
    """Put the attempt's series file and its sampled curves in the store (the run folder
    then shows the stored objects). Returns what went wrong, for `series_error`: lines
    skipped, or a file that could not be stored (it then stays as the stages left it)."""
    try:
        with store.writing():
            _keep(reader, run_dir, store)
    except OSError as e:
        return f"{FILE}: not stored: {e.strerror or e}"
    return reader.problem()


def _keep(reader: Reader, run_dir: Path, store: ObjectStore) -> None:
    path = run_dir / FILE
    if path.is_file() and not path.is_symlink():
        _show(store, store.add_file(path, hash_file(path)), path)
    curves = reader.sampled()
    if curves:
        text = json.dumps(curves, sort_keys=True, separators=(",", ":"), allow_nan=False)
        _show(store, store.add_bytes(text.encode()), run_dir / SAMPLED)


def _show(store: ObjectStore, digest: str, path: Path) -> None:
    """`path` becomes the object, replaced in one step: never missing on the way."""
    linked = path.with_name(path.name + ".kept")
    linked.unlink(missing_ok=True)
    store.link(digest, linked)
    linked.replace(path)

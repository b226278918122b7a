"""One metric's points in bounded memory: its summary (count, first, last, min and its step,
max and its step) and a down-sampled curve (`Sampler`), as the record and the report hold
them (strict JSON: non-finite values as text or null, integral steps as integers).
"""

from __future__ import annotations

import bisect
import math
from typing import Any

from expman.observe.seriesvalues import EXACT

BUCKETS = 512  # a sampled curve keeps at most 4 points per bucket: about 2,000 points
FULL = 1 << 60  # buckets of a curve that keeps every point (the Python API's full series)


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
    (widths doubling, so that buckets nest) formed again as more arrive: at most
    `8 * buckets` points are kept (about 100 bytes each)."""

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
        if len(self.values) > 8 * self.buckets:
            self._reduce()

    def _reduce(self) -> None:
        while self.seen > self.width * self.buckets:
            self.width *= 2
        keep: list[int] = []
        start = 0
        n = len(self.index)
        while start < n:  # the index is sorted: each bucket's end is found by bisection
            stop = bisect.bisect_left(
                self.index, (self.index[start] // self.width + 1) * self.width, start
            )
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
    part = values[start:stop]
    if math.isfinite(sum(part)):  # the usual case: found in C
        low, high = start + part.index(min(part)), start + part.index(max(part))
    else:
        finite = [i for i in range(start, stop) if math.isfinite(values[i])] or [start]
        low = min(finite, key=values.__getitem__)
        high = max(finite, key=values.__getitem__)
    return sorted({start, low, high, stop - 1})


def _number(value: float) -> float | int:
    """A step as JSON wants it: integral steps stay integers."""
    if isinstance(value, float) and value.is_integer() and abs(value) < EXACT:
        return int(value)
    return value


def _strict(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value

"""Metric series: the JSON lines that stages append to `$EXPMAN_METRICS`.

A line is one JSON object, e.g. `{"step": 12, "loss": 0.31, "acc": 0.88}`. Every key
but `step` whose value is a number is a metric; the point's step is its `step`, or the
line's position among the file's objects (0, 1, ...) when it has none. A last line
without its newline may be half written: it is read only when the file is complete (the
attempt is over) and it parses.

What a stage writes is untrusted. A line that is not a JSON object (not UTF-8, nested
too deeply, not JSON), longer than `MAX_LINE`, or whose `step` is not a finite number is
skipped and counted; a run keeps at most `MAX_SERIES` metrics (the first it logs) under
names of at most `MAX_NAME` characters of valid text; a file replaced by anything but a
regular file (a folder, a pipe, a link) is not read, and one truncated or replaced keeps
the points read before. `series_error` says all of it. Memory stays bounded however the
file looks.

`Reader` reads the file incrementally, so that the runner can keep up while the stages
write (a million points are then not read at the end of the attempt), and keeps, for each
metric, its summary (count, first, last, min and its step, max and its step) and a
down-sampled curve of bounded size (`Sampler`).

The stages append to `live/series.jsonl` in the run folder. At the attempt's end the
bytes read are copied into the store and shown as `series.jsonl`, and `live/` goes: a
process that outlives the attempt finds nothing to append to, and never the store's
object, which another run may share.
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import itertools
import json
import math
import os
import shutil
import stat
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from expman.store.objects import ObjectStore, open_below

FILE = "series.jsonl"  # the archived series in the run folder (and the live file's name)
LIVE = "live"  # the folder of the file the stages append to while an attempt runs
SAMPLED = "series.sampled.json"  # each metric's down-sampled curve, for the report
BUCKETS = 512  # a sampled curve keeps at most 4 points per bucket: about 2,000 points
FULL = 1 << 60  # buckets of a curve that keeps every point (the Python API's full series)
MAX_SERIES = 1_000  # metrics per attempt: the first ones logged are kept
MAX_NAME = 256  # characters of a metric's name
MAX_LINE = 1 << 22  # bytes of a line, its newline included (and of a read); longer: skipped
# Bytes of a sampled file read: far more than the ~2,000 points of each of `MAX_SERIES`
# metrics (and the runner's own) take; a larger one is no file expman wrote, and not read.
MAX_SAMPLED = 256 << 20
RESERVED = "sys/"  # names of the runner's own series (what the run used): no stage writes them
_DROPPED_COUNTED = 100_000  # distinct dropped names counted (beyond: "more than")
_EXACT = 2**53  # integers beyond are numbers a float (and JavaScript) cannot hold exactly
_NOT_OBJECT = "not a JSON object"
_TOO_LONG = "longer than 4 MB"
_BAD_STEP = "with a step that is not a finite number"


def stream(run_dir: Path) -> Path:
    """The file the stages of the attempt in progress append to: `$EXPMAN_METRICS`."""
    return run_dir / LIVE / FILE


def begin(run_dir: Path) -> None:
    """A new, empty live file for a new attempt (what an earlier one left goes)."""
    discard(run_dir)
    (run_dir / LIVE).mkdir(exist_ok=True)
    stream(run_dir).touch()


def discard(run_dir: Path) -> None:
    """The live folder goes, once its series is stored: never following a link put in
    its place, and never raising (what cannot be removed stays)."""
    live = run_dir / LIVE
    with contextlib.suppress(OSError):
        if live.is_symlink() or not live.is_dir():
            live.unlink(missing_ok=True)
        else:
            shutil.rmtree(live)


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


class Reader:
    """The series file of one attempt, read as it grows (a regular file only, never
    through a link, and never more than one chunk of it in memory)."""

    def __init__(self, path: Path, buckets: int = BUCKETS) -> None:
        self.path = path
        self.buckets = buckets  # of each metric's curve (`FULL`: every point kept)
        self.offset = 0  # bytes consumed: complete lines (and skipped parts of long ones)
        self.lines = 0  # objects read (the default step of the next one)
        self.summaries: dict[str, Summary] = {}
        self.samplers: dict[str, Sampler] = {}
        self.skipped: Counter[str] = Counter()  # lines skipped, by why
        self.first_skipped: int | None = None  # its line number, for the message
        self.dropped: set[str] = set()  # names beyond MAX_SERIES (the first few counted)
        self.first_dropped: str | None = None
        self.bad_names = 0  # values dropped: their name is too long, or not Unicode text
        self.reserved = 0  # values dropped: a stage wrote them under the runner's prefix
        self.own = 0  # series of the runner's own (`add_own`): not counted in MAX_SERIES
        self.restarts = 0  # times the file was found truncated or replaced
        self.readable = True  # at the last poll
        self.notes: list[str] = []  # what else went wrong (each said once)
        self._line_number = 0
        self._in_long_line = False
        self._identity: tuple[int, int] | None = None

    def poll(self, complete: bool = False) -> None:
        """Read what was appended since the last call. With `complete`, the writers are
        gone: a last line without its newline is read too, if it parses."""
        try:
            fd = _open_regular(self.path)
        except FileNotFoundError:
            return
        except OSError as e:
            self.readable = False
            self.note(_unreadable(e))
            return
        self.readable = True
        try:
            self._read(fd, complete)
        except OSError as e:  # an I/O error mid-file: what was read is kept
            self.note(f"not read to its end: {e.strerror or e}")
        finally:
            os.close(fd)

    def note(self, problem: str) -> None:
        """Something else that went wrong, for `problem` (said once however often)."""
        if problem not in self.notes:
            self.notes.append(problem)

    def _read(self, fd: int, complete: bool) -> None:
        info = os.fstat(fd)
        identity = (info.st_dev, info.st_ino)
        if self._identity not in (None, identity) or info.st_size < self.offset:
            self._restart()
        self._identity = identity
        size = info.st_size  # what a writer appends meanwhile waits for the next poll
        while self.offset < size:
            chunk = os.pread(fd, min(MAX_LINE, size - self.offset), self.offset)
            if not chunk:
                return  # truncated meanwhile: the next poll starts again
            if self._in_long_line:  # its rest is passed over, up to its newline
                end = chunk.find(b"\n") + 1
                self.offset += end or len(chunk)
                if end:
                    self._in_long_line = False
                    self._line_number += 1
                continue
            end = chunk.rfind(b"\n") + 1
            if end:
                self._lines(chunk[:end])
                self.offset += end
            elif len(chunk) == MAX_LINE:  # no line ends in it: a line longer than a chunk
                self._skip(self._line_number + 1, _TOO_LONG)
                self._in_long_line = True
                self.offset += len(chunk)
            else:
                break  # a line being written: it waits
        if complete and self.offset < size:
            tail = os.pread(fd, size - self.offset, self.offset)
            if not self._in_long_line and isinstance(_object(tail), dict):
                self._lines(tail + b"\n")
            self.offset += len(tail)

    def _restart(self) -> None:
        """The file is not the one read so far: its new content is read from the start,
        and the points read before are kept."""
        self.restarts += 1
        self.offset = 0
        self._line_number = 0
        self._in_long_line = False

    def _skip(self, number: int, why: str) -> None:
        self.skipped[why] += 1
        if self.first_skipped is None:
            self.first_skipped = number

    def _lines(self, data: bytes) -> None:
        first = self._line_number + 1
        self._line_number += data.count(b"\n")
        # The usual case: every line an object, parsed at once.
        parsed = _object(b"[" + data[:-1].replace(b"\n", b",") + b"]")
        if (
            isinstance(parsed, list)
            and len(parsed) == self._line_number - first + 1  # not two on one line
            and set(map(type, parsed)) == {dict}
        ):
            self._points(parsed, range(first, first + len(parsed)))
            return
        objects: list[dict[str, Any]] = []
        numbers: list[int] = []
        for number, line in enumerate(data.split(b"\n")[:-1], first):
            value = _object(line) if line.strip() else None
            if isinstance(value, dict):
                objects.append(value)
                numbers.append(number)
            elif line.strip():
                self._skip(number, _NOT_OBJECT)
        self._points(objects, numbers)

    def _points(self, objects: list[dict[str, Any]], numbers: Sequence[int]) -> None:
        """The objects of the lines `numbers`, in order."""
        if not objects:
            return
        steps = [o.get("step", _ABSENT) for o in objects]
        if not _exact_integers(steps):
            objects, steps = self._stepped(objects, steps, numbers)
        self.lines += len(objects)
        for name in dict.fromkeys(itertools.chain.from_iterable(objects)):
            if name == "step":
                continue
            points = _numeric(steps, [o.get(name) for o in objects])
            if points is not None and self._admitted(name):
                self.summaries[name].add(*points)
                self.samplers[name].add(*points)

    def _stepped(
        self, objects: list[dict[str, Any]], steps: list[Any], numbers: Sequence[int]
    ) -> tuple[list[dict[str, Any]], list[float]]:
        """The objects whose step is a finite number or absent (then their position),
        and their steps; the others are skipped."""
        kept: list[dict[str, Any]] = []
        kept_steps: list[float] = []
        for o, s, number in zip(objects, steps, numbers, strict=True):
            step = self.lines + len(kept) if s is _ABSENT else _finite(s)
            if step is None:
                self._skip(number, _BAD_STEP)
                continue
            kept.append(o)
            kept_steps.append(step)
        return kept, kept_steps

    def _admitted(self, name: str) -> bool:
        """Whether points of a metric of this name are kept: a known one, or a new one
        within the bounds (a name dropped is counted)."""
        if name.startswith(RESERVED):  # even once the runner has such a series
            self.reserved += 1
            return False
        if name in self.summaries:
            return True
        if not _good_name(name):
            self.bad_names += 1
            return False
        if len(self.summaries) - self.own < MAX_SERIES:
            self.summaries[name] = Summary()
            self.samplers[name] = Sampler(self.buckets)
            return True
        if self.first_dropped is None:
            self.first_dropped = name
        if len(self.dropped) < _DROPPED_COUNTED:
            self.dropped.add(name)
        return False

    def add_own(self, step: float, values: dict[str, float]) -> None:
        """The runner's own points at `step` (names under `RESERVED`), beside the stages'
        (and beyond their `MAX_SERIES`: a stage cannot crowd them out)."""
        for name, value in values.items():
            if name not in self.summaries:
                self.summaries[name] = Summary()
                self.samplers[name] = Sampler()
                self.own += 1
            self.summaries[name].add([step], [value])
            self.samplers[name].add([step], [value])

    def summary(self) -> dict[str, dict[str, Any]]:
        """Each metric's summary as the record holds it, by name."""
        return {name: s.record() for name, s in sorted(self.summaries.items())}

    def sampled(self) -> dict[str, dict[str, list[Any]]]:
        """Each metric's down-sampled curve, by name."""
        return {name: s.points() for name, s in sorted(self.samplers.items())}

    def problem(self) -> str | None:
        """What went wrong, for the attempt's `series_error`; None when nothing did."""
        said = list(self.notes)
        count = sum(self.skipped.values())
        if count == 1:
            said.append(f"line {self.first_skipped} is skipped: {next(iter(self.skipped))}")
        elif count:
            whys = ", ".join(f"{why} ({n:,})" for why, n in sorted(self.skipped.items()))
            said.append(
                f"{count:,} lines are skipped (the first: line {self.first_skipped}): {whys}"
            )
        if self.restarts:
            times = "once" if self.restarts == 1 else f"{self.restarts} times"
            said.append(
                f"truncated or replaced while it was read ({times}): "
                "the points read before are kept"
            )
        if self.dropped:
            count = len(self.dropped)
            many = f"more than {count:,}" if count == _DROPPED_COUNTED else f"{count:,}"
            metrics = "metric" if count == 1 else "metrics"
            said.append(
                f"{many} {metrics} beyond the first {MAX_SERIES:,} are dropped "
                f"(the first: {_shown(self.first_dropped or '')})"
            )
        if self.bad_names:
            values = "value" if self.bad_names == 1 else "values"
            said.append(
                f"{self.bad_names:,} {values} under names longer than {MAX_NAME} "
                "characters or not valid text dropped"
            )
        if self.reserved:
            values = "value" if self.reserved == 1 else "values"
            said.append(
                f"{self.reserved:,} {values} under the reserved prefix {RESERVED} dropped "
                "(the runner's own series)"
            )
        return f"{FILE}: " + "; ".join(said) if said else None


def tail(
    path: Path, points: int = 24, size: int = 1 << 16, reserved: str | None = RESERVED
) -> dict[str, list[float]]:
    """The last values of each metric (at most `points`, oldest first) from the end of a
    series file, without reading all of it: what `watch` shows while a run runs. Anything
    but a regular file (a pipe, a folder, a link put in its place) has none. Names under
    `reserved` are left out: no stage's values pass for the runner's (None: the runner's
    own file)."""
    try:
        fd = _open_regular(path)
    except OSError:
        return {}
    try:
        length = os.fstat(fd).st_size
        data = os.pread(fd, size, max(0, length - size))
    except OSError:
        return {}
    finally:
        os.close(fd)
    lines = data.split(b"\n")
    if length > size:
        lines = lines[1:]  # probably cut
    found: dict[str, list[float]] = {}
    for line in lines:
        value = _object(line)
        if not isinstance(value, dict):
            continue
        for name, number in value.items():
            if name != "step" and _good_name(name) and not (reserved and name.startswith(reserved)):
                kept = _value(number)
                if kept is not None:
                    found.setdefault(name, []).append(float(kept))
    return {name: values[-points:] for name, values in found.items()}


class _Absent:
    """A line without a `step`."""


_ABSENT = _Absent()


def _open_regular(path: Path) -> int:
    """A read-only descriptor of the regular file at `path`, never through a link (its
    folder's or its own) nor waiting on a pipe; anything else raises `OSError`."""
    try:
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as e:
        if e.errno not in (errno.ENOTDIR, errno.ELOOP):
            raise
        why = "not a regular file in a folder (its folder is a link or a file): not read"
        raise OSError(errno.EINVAL, why, str(path)) from e
    try:
        info = os.stat(path.name, dir_fd=folder, follow_symlinks=False)
        if not stat.S_ISREG(info.st_mode):  # not opened at all: a device may act on it
            raise OSError(errno.EINVAL, _kind(info.st_mode), str(path))
        fd = os.open(path.name, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW, dir_fd=folder)
    finally:
        os.close(folder)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):  # replaced between the two looks
        os.close(fd)
        raise OSError(errno.EINVAL, _kind(mode), str(path))
    return fd


def _kind(mode: int) -> str:
    kinds = {
        stat.S_ISDIR: "a folder",
        stat.S_ISFIFO: "a pipe",
        stat.S_ISLNK: "a symbolic link",
        stat.S_ISSOCK: "a socket",
        stat.S_ISCHR: "a device",
        stat.S_ISBLK: "a device",
    }
    found = next((kind for test, kind in kinds.items() if test(mode)), "not a file")
    return f"not a regular file but {found}: not read"


def _unreadable(error: OSError) -> str:
    if error.errno == errno.EINVAL and isinstance(error.strerror, str):
        return error.strerror
    if error.errno == errno.ELOOP:
        return _kind(stat.S_IFLNK)
    return f"not read: {error.strerror or error}"


def _object(data: bytes) -> Any:
    """`data` parsed as JSON, or None: not UTF-8, not JSON, nested too deeply."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None


def _exact_integers(steps: list[Any]) -> bool:
    """Whether every step is an integer a float holds exactly (the usual case, checked
    in C)."""
    return set(map(type, steps)) == {int} and min(steps) >= -_EXACT and max(steps) <= _EXACT


def _numeric(steps: list[float], values: list[Any]) -> tuple[list[float], list[float]] | None:
    """The points of a metric among one batch's values (its steps and numbers), or None
    when none of the values is a number."""
    if _exact_numbers(values):
        return steps, values
    numbers = [_value(v) for v in values]
    kept = [(step, n) for step, n in zip(steps, numbers, strict=True) if n is not None]
    if not kept:
        return None
    return [step for step, _ in kept], [n for _, n in kept]


def _exact_numbers(values: list[Any]) -> bool:
    """Whether every value is a float or an integer a float holds exactly."""
    types = set(map(type, values))
    if not types <= {float, int}:
        return False
    return int not in types or all(-_EXACT <= v <= _EXACT for v in values if type(v) is int)


def _value(value: Any) -> float | None:
    """A metric's value as a number (non-finite ones included), or None: not a number.
    An integer too big for a float is an infinity."""
    if type(value) is float:
        return value
    if type(value) is int:
        try:
            return float(value) if abs(value) > _EXACT else value
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    return None


def _finite(value: Any) -> float | None:
    """A step as a finite number, or None."""
    number = _value(value)
    return number if number is not None and math.isfinite(number) else None


def _good_name(name: str) -> bool:
    """Whether a metric may have this name: at most `MAX_NAME` characters, and text that
    UTF-8 can hold (JSON's `\\ud800` is not: a lone surrogate)."""
    if len(name) > MAX_NAME:
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(name: str) -> str:
    """A name in a message: JSON-quoted in ASCII (no control character reaches a
    terminal), and cut."""
    quoted = json.dumps(name[:40])
    return quoted if len(name) <= 40 else quoted[:-1] + '..."'


def _number(value: float) -> float | int:
    """A step as JSON wants it: integral steps stay integers."""
    if isinstance(value, float) and value.is_integer() and abs(value) < _EXACT:
        return int(value)
    return value


def _strict(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def read_sampled(run_dir: Path) -> Any:
    """The JSON value of a run's `series.sampled.json`, read never through a link, nor
    from a pipe, nor past `MAX_SAMPLED` bytes; None when there is none to read."""
    try:
        with os.fdopen(open_below(run_dir, SAMPLED), "rb") as f:
            if os.fstat(f.fileno()).st_size > MAX_SAMPLED:
                return None
            return json.loads(f.read(MAX_SAMPLED + 1))
    except (OSError, ValueError, RecursionError):
        return None


def keep(reader: Reader, run_dir: Path, store: ObjectStore) -> str | None:
    """Read the rest of the attempt's series (its writers are gone), copy what was read
    into the store as `series.jsonl` of the run folder, and its sampled curves beside it.
    Returns what went wrong, for `series_error`. Never raises: a stage's series must
    never keep its run from ending (a file that cannot be stored is said, and stays)."""
    try:
        reader.poll(complete=True)
        with store.writing():
            _keep(reader, run_dir, store)
    except OSError as e:
        reader.note(f"not stored: {e.strerror or e}")
    except Exception as e:  # a bug here must not leave the run `running` for good
        reader.note(f"not stored: internal error: {type(e).__name__}: {e}")
    return reader.problem()


def _keep(reader: Reader, run_dir: Path, store: ObjectStore) -> None:
    if reader.offset and reader.readable:
        fd = _open_regular(reader.path)
        try:
            _show(store, store.add_prefix(fd, reader.offset), run_dir / FILE)
        finally:
            os.close(fd)
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

"""Reading a series file (the JSON lines stages append to `$EXPMAN_METRICS`) as it grows.

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
the points read before. `Reader.problem` says all of it. Memory stays bounded however the
file looks.

`Reader` reads the file incrementally, so that the runner can keep up while the stages
write (a million points are then not read at the end of the attempt), and keeps, for each
metric, its summary and a down-sampled curve of bounded size (`observe/curve`). `tail`
reads the last values of a file without reading all of it.
"""

from __future__ import annotations

import errno
import itertools
import os
import stat
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from expman.observe.curve import BUCKETS, Sampler, Summary
from expman.observe.seriesvalues import (
    ABSENT,
    MAX_NAME,
    exact_integers,
    finite_step,
    good_name,
    json_value,
    metric_value,
    numeric,
    shown,
)

MAX_SERIES = 1_000  # metrics per attempt: the first ones logged are kept
MAX_LINE = 1 << 22  # bytes of a line, its newline included (and of a read); longer: skipped
RESERVED = "sys/"  # names of the runner's own series (what the run used): no stage writes them
_DROPPED_COUNTED = 100_000  # distinct dropped names counted (beyond: "more than")
_NOT_OBJECT = "not a JSON object"
_TOO_LONG = "longer than 4 MB"
_BAD_STEP = "with a step that is not a finite number"


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
            fd = open_regular(self.path)
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
            if not self._in_long_line and isinstance(json_value(tail), dict):
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
        parsed = json_value(b"[" + data[:-1].replace(b"\n", b",") + b"]")
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
            value = json_value(line) if line.strip() else None
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
        steps = [o.get("step", ABSENT) for o in objects]
        if not exact_integers(steps):
            objects, steps = self._stepped(objects, steps, numbers)
        self.lines += len(objects)
        for name in dict.fromkeys(itertools.chain.from_iterable(objects)):
            if name == "step":
                continue
            points = numeric(steps, [o.get(name) for o in objects])
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
            step = self.lines + len(kept) if s is ABSENT else finite_step(s)
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
        if not good_name(name):
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
        """What went wrong, for the attempt's `series_error` (`series.keep` names the file);
        None when nothing did."""
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
                f"(the first: {shown(self.first_dropped or '')})"
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
        return "; ".join(said) or None


def tail(
    path: Path, points: int = 24, size: int = 1 << 16, reserved: str | None = RESERVED
) -> dict[str, list[float]]:
    """The last values of each metric (at most `points`, oldest first) from the end of a
    series file, without reading all of it: what `watch` shows while a run runs. Anything
    but a regular file (a pipe, a folder, a link put in its place) has none. Names under
    `reserved` are left out: no stage's values pass for the runner's (None: the runner's
    own file)."""
    try:
        fd = open_regular(path)
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
        value = json_value(line)
        if not isinstance(value, dict):
            continue
        for name, number in value.items():
            if name != "step" and good_name(name) and not (reserved and name.startswith(reserved)):
                kept = metric_value(number)
                if kept is not None:
                    found.setdefault(name, []).append(float(kept))
    return {name: values[-points:] for name, values in found.items()}


def open_regular(path: Path) -> int:
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

"""The heartbeat of a running attempt, and the thread that keeps it (and reads the series).

Whatever runs an attempt (`expman run`, a sweep's point, later a batch job) keeps a
`Monitor` going: every second (every 0.05 s while they write) it reads what the stages
appended to the series file, and every `every` seconds it rewrites `heartbeat.json` in
the run folder. A reader judges a
run from that file's content alone, not from its mtime (copies and rsync change mtimes):
a heartbeat older than `STALE_AFTER` intervals by the reader's clock is `stale`. The file
goes when the attempt closes.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expman import fsutil, processes
from expman.observe import series, seriesreader
from expman.store.objects import open_regular

if TYPE_CHECKING:  # the sampler's module is imported by what makes one: `end` needs none
    from expman.observe import resources

FILE = "heartbeat.json"
EVERY = 10.0  # seconds between heartbeats; EXPMAN_HEARTBEAT sets another
STALE_AFTER = 3  # intervals without a heartbeat before a run is `stale`
_POLL = 1.0  # seconds between reads of the series file
_BUSY = 0.05  # ... while the stages are writing it: what is left for the end stays small
_MAX_SIZE = 1 << 16  # bytes of a heartbeat read: its writer's are under 300


def interval() -> float:
    """The heartbeat interval: `EXPMAN_HEARTBEAT` seconds when set (at least 0.05)."""
    try:
        return max(0.05, float(os.environ.get("EXPMAN_HEARTBEAT", EVERY)))
    except ValueError:
        return EVERY


class Monitor:
    """A daemon thread beside the stages of one attempt: series read, heartbeat written."""

    def __init__(
        self,
        run_dir: Path,
        run: Mapping[str, Any],
        attempt: int,
        sampler: resources.Sampler | None = None,
    ) -> None:
        self.run_dir = run_dir
        self.reader = seriesreader.Reader(series.stream(run_dir))
        self.sampler = sampler  # what the run's processes use, sampled in this thread
        self.every = interval()
        self._beat = {
            "uid": run["uid"],
            "id": run["id"],
            "attempt": attempt,
            "host": processes.host(),
            "pid": os.getpid(),
            "every": self.every,
        }
        self._sequence = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="expman-monitor", daemon=True)

    def start(self) -> None:
        self.beat()
        self._thread.start()

    def beat(self) -> None:
        """Write the heartbeat now (the stage being run is in the record)."""
        self._sequence += 1
        now = time.time()
        content = {**self._beat, "sequence": self._sequence, "at_epoch": round(now, 3)}
        # A full disk must not stop the run: readers will call it stale.
        with contextlib.suppress(OSError):
            fsutil.write_atomic(
                self.run_dir / FILE, (json.dumps(content) + "\n").encode(), sync=False
            )

    def _loop(self) -> None:
        last = time.monotonic()
        idle = min(_POLL, self.every, self.sampler.every if self.sampler else _POLL)
        pause = idle
        while not self._stop.wait(pause):
            before = self.reader.offset
            self.reader.poll()
            pause = _BUSY if self.reader.offset != before else idle
            if self.sampler is not None and self.sampler.due(time.monotonic()):
                self._sample(self.sampler)
            if time.monotonic() - last >= self.every:
                self.beat()
                last = time.monotonic()

    def _sample(self, sampler: resources.Sampler) -> None:
        """One sample of the run's processes into the series (and the file `watch` reads)."""
        values = sampler.sample()
        if not values:
            return
        step = round(sampler.elapsed(), 1)
        self.reader.add_own(step, values)
        line = json.dumps({"step": step, **values}) + "\n"
        from expman.observe import resources  # imported already: the sampler is one of it

        with contextlib.suppress(OSError):  # a full disk must not stop the run
            resources.append(self.run_dir, line.encode())

    def finish(self) -> seriesreader.Reader:
        """Stop the thread and remove the heartbeat; the reader has read the series so
        far (`series.keep` reads the rest)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        (self.run_dir / FILE).unlink(missing_ok=True)
        return self.reader


def read(run_dir: Path) -> dict[str, Any] | None:
    """The heartbeat in a run folder, or None (none, or not readable as one). Only a
    regular file is read, never through a link nor waiting on a pipe, and only its
    first `_MAX_SIZE` bytes: a stage may have put anything in its place."""
    try:
        fd = open_regular(str(run_dir / FILE), os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        value = json.loads(os.read(fd, _MAX_SIZE))
    except (OSError, ValueError, RecursionError):
        return None
    finally:
        os.close(fd)
    if not isinstance(value, dict) or not isinstance(value.get("at_epoch"), int | float):
        return None
    return value


def age(beat: dict[str, Any], now: float | None = None) -> float:
    """Seconds since the heartbeat was written, by the reader's clock."""
    return (time.time() if now is None else now) - float(beat["at_epoch"])


def stale(beat: dict[str, Any] | None, now: float | None = None) -> bool:
    """True when the heartbeat is overdue (or missing: nothing says the run is alive)."""
    if beat is None:
        return True
    every = beat.get("every")
    every = float(every) if isinstance(every, int | float) and every > 0 else EVERY
    return age(beat, now) > STALE_AFTER * every


def overdue(beat: dict[str, Any] | None, started: float | None, now: float) -> bool:
    """Whether the runner of an attempt started at `started` (epoch seconds) is overdue:
    its heartbeat is stale, or it has none yet after the moment a runner needs to write
    its first (an unknown start: overdue)."""
    if beat is not None:
        return stale(beat, now)
    return started is None or now - started > STALE_AFTER * EVERY

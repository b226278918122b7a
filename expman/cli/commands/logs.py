"""`expman logs RUN [STEP] [-f]`: the stage logs of a run, as the stages wrote them.

With `-f`, what the stages append is printed as it comes (each change of file under a
header saying whose it is), across steps and attempts, until the run is no longer in
flight: its attempt closed, or its heartbeat stopped (the runner died).
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, TextIO

from expman.errors import ArchiveError, UsageError
from expman.observe import heartbeat
from expman.observe.inflight import IN_FLIGHT
from expman.output import printable, style, write_line
from expman.store import record
from expman.store.archive import Archive
from expman.store.objects import open_regular

POLL = 0.25  # seconds between looks at the logs while following
_FOLLOWED = (record.STARTED, *IN_FLIGHT)  # a run opened by `expman start` is waited for


def logs(*, archive: Path, name: str, step: str | None, follow: bool, out: TextIO) -> int:
    """Print the stdout and stderr logs of each step of the run's latest attempt (or of
    the one step named), each under a header saying whose it is; follow them with
    `follow`."""
    store = Archive(archive)
    run_id = store.resolve(name)
    run = store.read(run_id)
    _steps(run, step)  # an unknown step is refused at once, even when following
    printer = _Printer(store.run_dir(run_id), out)
    while True:
        attempt = len(run.get("attempts") or [])
        for entry in _steps(run, step, allow_missing=follow):
            for log in entry.get("logs") or []:
                printer.show(attempt, str(entry.get("name")), str(log))
        if not follow or not _in_flight(store, run):
            return 0
        time.sleep(POLL)
        try:
            run = store.read(run_id)
        except ArchiveError:
            return 0  # removed meanwhile: nothing more to follow


def _steps(run: Mapping[str, Any], step: str | None, allow_missing: bool = False) -> list[Any]:
    steps = [s for s in run.get("stages") or [] if isinstance(s, dict)]
    if step is None:
        return steps
    chosen = [s for s in steps if s.get("name") == step or s.get("stage") == step]
    if not chosen and not allow_missing:
        names = ", ".join(str(s.get("name")) for s in steps)
        raise UsageError(f"run {run.get('id')} has no step '{step}' (steps: {names})")
    return chosen


def _in_flight(store: Archive, run: Mapping[str, Any]) -> bool:
    if run.get("ended") is not None or run.get("status") not in _FOLLOWED:
        return False
    if run.get("status") == record.RUNNING:
        beat = heartbeat.read(store.run_dir(str(run["id"])))
        if beat is not None and heartbeat.stale(beat):
            return False  # its runner stopped beating: the record will say what happened
    return True


def open_log(folder: Path, name: str) -> BinaryIO:
    """A log that a record names, open for reading. A record is untrusted: `OSError`
    when the name is no path inside the run folder (absolute, or through `..`), or names
    a link or anything but a file (a pipe would be waited on)."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise OSError(errno.EINVAL, "not a log inside the run folder", name)
    return os.fdopen(open_regular(str(folder / path), os.O_NOFOLLOW), "rb")


class _Printer:
    """Copies what is new in each log file to `out`, with a header at each change of file."""

    def __init__(self, folder: Path, out: TextIO) -> None:
        self.folder, self.out = folder, out
        self.offsets: dict[tuple[int, str], int] = {}
        self.current: tuple[int, str] | None = None

    def show(self, attempt: int, step: str, log: str) -> None:
        key = (attempt, log)
        path = self.folder / log
        try:
            with open_log(self.folder, log) as f:
                f.seek(self.offsets.get(key, 0))
                data = f.read()
        except OSError:
            return
        if not data:
            return
        self.offsets[key] = self.offsets.get(key, 0) + len(data)
        if self.current != key:
            stream = "stderr" if log.endswith(".err") else "stdout"
            header = printable(f"── {step} ({stream}: {path})")  # the log itself: as written
            write_line(self.out, style(header, "cyan", self.out))
            self.current = key
        self.out.flush()
        buffer = getattr(self.out, "buffer", None)
        if buffer is not None:
            buffer.write(data)
            buffer.flush()
        else:
            self.out.write(data.decode("utf-8", "replace"))
            self.out.flush()

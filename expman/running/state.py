"""The experiment's working state in `.expman/`: which run is open, and who holds the lock.

Nothing here is the only copy of anything: the open run's record lives in the archive;
`.expman/current.json` only says which one it is, and doit's skip state
(`.expman/doit.db`) can be lost at the price of re-running pre-run steps.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from expman import fsutil, processes
from expman.errors import UsageError
from expman.processes import alive

STATE_DIR = ".expman"
DOIT_DB = f"{STATE_DIR}/doit.db"


class OpenRun(NamedTuple):
    """The run that `start` or `run` opened and `end` has not closed yet."""

    run_id: str
    uid: str
    archive: str


class Lock:
    """A held experiment lock."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def release(self) -> None:
        """Let go (closing the file releases the lock); a second call does nothing.

        The holder's name is erased first, so that the next holder is never mistaken
        for this one in the moment before it writes its own."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None


class State:
    """`.expman/` of one experiment."""

    def __init__(self, root: Path) -> None:
        self.dir = root / STATE_DIR

    def open_run(self) -> OpenRun | None:
        """The open run, or None."""
        try:
            data = json.loads((self.dir / "current.json").read_bytes())
            return OpenRun(data["id"], data["uid"], data["archive"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            return None  # unreadable: treated as no open run; the record is in the archive

    def set_open_run(self, run: OpenRun | None) -> None:
        """Record which run is open (None: none is)."""
        path = self.dir / "current.json"
        if run is None:
            path.unlink(missing_ok=True)
            return
        self.dir.mkdir(exist_ok=True)
        fsutil.write_json_atomic(path, {"id": run.run_id, "uid": run.uid, "archive": run.archive})

    def known(self, digest: str) -> bool:
        """Whether an expfile with this digest passed schema validation (a cache)."""
        try:
            return digest in (self.dir / "validated").read_text().split()
        except OSError:
            return False

    def add(self, digest: str) -> None:
        """Remember a digest that passed validation; the last few are kept."""
        path = self.dir / "validated"
        try:
            kept = path.read_text().split()[-15:] if path.exists() else []
            self.dir.mkdir(exist_ok=True)
            fsutil.write_atomic(path, "\n".join([*kept, digest, ""]).encode())
        except OSError:
            pass  # a cache: without it, the next command validates again

    def document(self, digest: str) -> Any:
        """What the expfile with this digest parsed to (a cache; None when not kept)."""
        try:
            kept = json.loads((self.dir / "expfile.json").read_bytes())
        except (OSError, ValueError):
            return None
        if not isinstance(kept, dict) or kept.get("digest") != digest:
            return None
        return kept.get("document")

    def keep_document(self, digest: str, document: str) -> None:
        """Keep what a valid expfile parsed to (JSON text), for `document`."""
        text = f'{{"digest": {json.dumps(digest)}, "document": {document}}}\n'
        try:
            self.dir.mkdir(exist_ok=True)
            fsutil.write_atomic(self.dir / "expfile.json", text.encode(), sync=False)
        except OSError:
            pass  # a cache: without it, the next command parses the expfile again

    @contextlib.contextmanager
    def lock(self, command: str, wait: bool = True) -> Iterator[None]:
        """Hold the experiment's lock while `command` changes its runs (see `acquire`)."""
        held = self.acquire(command, wait)
        try:
            yield
        finally:
            held.release()

    def acquire(self, command: str, wait: bool = True) -> Lock:
        """Take the experiment's lock, or raise `UsageError` naming its holder.

        An OS file lock (flock): the kernel releases it when its holder dies, however it
        dies, so a lock is never left stale. A command that changes runs is refused at
        once when another such command holds the lock; it waits (with `wait`) only while
        a reader holds it for a moment to repair a dead run, or while a new holder has
        not written its name yet, so that readers never make a writer fail.
        """
        self.dir.mkdir(exist_ok=True)
        fd = os.open(self.dir / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + BRIEF_HOLD_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder(fd)
                brief = holder is None or holder.get("command") == REPAIR
                if not (wait and brief and time.monotonic() < deadline):
                    os.close(fd)
                    raise UsageError(_busy(holder)) from None
                time.sleep(0.01)
        holder_info = {
            "command": command,
            "pid": os.getpid(),
            "host": processes.host(),
            "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder_info).encode(), 0)
        return Lock(fd)


REPAIR = "repair"  # the command name of a reader's brief hold (see `State.acquire`)
# How long a writer waits for a brief holder: a repair stops a dead run's leftover
# processes, which may take their grace period.
BRIEF_HOLD_SECONDS = 30.0


def _holder(fd: int) -> dict[str, object] | None:
    """Who holds the lock, as its holder wrote it; None while not written yet, or when
    what is written names a process that is gone (a new holder is about to write)."""
    try:
        holder = json.loads(os.pread(fd, 4096, 0))
    except (OSError, ValueError):
        return None
    if not isinstance(holder, dict):
        return None
    pid = holder.get("pid")
    if holder.get("host") == processes.host() and isinstance(pid, int) and not alive(pid):
        return None
    return holder


def _busy(holder: dict[str, object] | None) -> str:
    try:
        assert holder is not None
        who = (
            f"`expman {holder['command']}` (pid {holder['pid']} on {holder['host']}, "
            f"since {holder['since']})"
        )
    except (AssertionError, KeyError):
        who = "another expman command"
    return f"this experiment is busy: {who} holds its lock; wait for it to finish"

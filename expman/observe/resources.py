"""What an attempt's processes use, measured by the runner from /proc (Linux).

The run's processes are the ones `processes` finds to stop them: those whose environment
holds the run's marker (`EXPMAN_RUN_UID=<uid>`, which every step gets and every child
inherits), so a sweep's points on one host are each charged their own, and a process that
left its step's process group is still counted. The runner itself is not.

Each sample lists /proc once, reads the environment of a pid only the first times it is
seen (its verdict is kept while the pid lives), and reads `stat`, `status` and `io` of
the run's own processes only: the cost follows the run's tree, not the host's.

A sample gives the series under the reserved prefix `sys/` (percent of one core, resident
and swapped-out memory of the tree in MiB, storage bytes read and written so far in MiB,
processes); the summary (`resources` in the record) adds what the kernel counted for the
children the runner reaped (`getrusage`), so that CPU time, peak memory and I/O of a
process that ended between two samples are not lost. Nothing here raises into a run: a
process that ends mid-read is passed over, an unreadable /proc gives no samples.
"""

from __future__ import annotations

import os
import resource
import stat
import time
from pathlib import Path
from typing import NamedTuple

from expman.observe import gpu, series, seriesreader
from expman.processes import environ_holds
from expman.store import record

PREFIX = seriesreader.RESERVED  # the series' names: no stage may write them (the Reader drops them)
FILE = "resources.jsonl"  # the samples as they are taken, beside the live series (`watch`)
EVERY = 1.0  # seconds between samples, unless the expfile says otherwise
MIB = 1 << 20
_PROC = "/proc"


class _Process:
    __slots__ = ("cpu", "read", "written")

    def __init__(self, cpu: int = 0, read: int = 0, written: int = 0) -> None:
        self.cpu = cpu  # clock ticks of its own (user + system), at the last sample
        self.read = read  # storage bytes, at the last sample
        self.written = written


class _Usage(NamedTuple):
    """The kernel's count for the runner's reaped children (`RUSAGE_CHILDREN`)."""

    cpu: float
    max_rss_kb: int
    read: int
    written: int

    @classmethod
    def now(cls) -> _Usage:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        blocks = 512  # Linux counts storage I/O in 512-byte units here
        return cls(
            usage.ru_utime + usage.ru_stime,
            usage.ru_maxrss,
            usage.ru_inblock * blocks,
            usage.ru_oublock * blocks,
        )


class Sampler:
    """Samples of one attempt's processes; `summary` once the attempt is over."""

    def __init__(self, marker: str, every: float = EVERY, proc: str = _PROC) -> None:
        self.marker = marker  # NAME=VALUE in the environment of every process of the run
        self.every = every
        self.proc = proc
        self._verdicts: dict[int, bool | None] = {}  # one of the run's?
        self._seen: dict[int, _Process] = {}
        self._ticks = os.sysconf("SC_CLK_TCK")
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._cpu_ticks = 0
        self._read = 0
        self._written = 0
        self._rss_peak = 0
        self._swap_peak = 0
        self._processes_peak = 0
        self._samples = 0
        self._last: float | None = None
        self._started = time.monotonic()
        self._usage = _Usage.now()
        self._gpu: gpu.Tracker | None = None
        self.error: str | None = None
        try:
            self._gpu = gpu.Tracker.start()
        except Exception as e:  # NVML surprised us: the rest is sampled all the same
            self.error = f"GPUs not sampled: {type(e).__name__}: {e}"

    def sample(self) -> dict[str, float]:
        """One sample: the series' values by name (empty when nothing could be read)."""
        try:
            return self._sample()
        except Exception as e:  # a bug here must never break the run: sampling stops
            self.error = f"sampling stopped: {type(e).__name__}: {e}"
            self.every = float("inf")
            return {}

    def elapsed(self) -> float:
        """Seconds since sampling started: the step of a sample."""
        return time.monotonic() - self._started

    def due(self, now: float) -> bool:
        """Whether a sample is due at `now` (monotonic seconds)."""
        return self._last is None or now - self._last >= self.every

    def _sample(self) -> dict[str, float]:
        now = time.monotonic()
        elapsed = now - self._last if self._last is not None else now - self._started
        self._last = now
        pids = self._own_pids()
        if pids is None:
            return {}
        ticks = rss = swap = 0
        alive: dict[int, _Process] = {}
        for pid in pids:
            reading = _read_process(self.proc, pid)
            if reading is None:
                continue  # ended meanwhile
            before = self._seen.get(pid, _Process())
            storage = reading.storage or (before.read, before.written)  # io unreadable now
            ticks += max(0, reading.cpu - before.cpu)
            self._read += max(0, storage[0] - before.read)
            self._written += max(0, storage[1] - before.written)
            rss += reading.pages * self._page
            swap += reading.swap_kb * 1024
            alive[pid] = _Process(reading.cpu, *storage)
        self._seen = alive
        self._cpu_ticks += ticks
        self._rss_peak = max(self._rss_peak, rss)
        self._swap_peak = max(self._swap_peak, swap)
        self._processes_peak = max(self._processes_peak, len(alive))
        self._samples += 1
        values = {
            "cpu_percent": round(100 * ticks / self._ticks / max(elapsed, 1e-3), 1),
            "rss_mb": round(rss / MIB, 1),
            "swap_mb": round(swap / MIB, 1),
            "read_mb": round(self._read / MIB, 3),
            "write_mb": round(self._written / MIB, 3),
            "processes": len(alive),
        }
        if self._gpu is not None:
            values.update(self._gpu.sample(set(alive)))
        return {PREFIX + name: value for name, value in values.items()}

    def _own_pids(self) -> list[int] | None:
        """The run's processes now (None: /proc cannot be listed)."""
        try:
            names = os.listdir(self.proc)  # noqa: PTH208 - strings: 500 entries a second
        except OSError:
            return None
        me = os.getpid()
        listed = {int(name) for name in names if name.isdigit()}
        # A pid that went is forgotten: its number may come back as another process.
        self._verdicts = {pid: v for pid, v in self._verdicts.items() if pid in listed}
        # A pid seen without the marker is looked at once more at the next sample: seen
        # between its fork and its exec, a step's process still had its parent's
        # environment.
        unsure = [pid for pid, ours in self._verdicts.items() if ours is None]
        for pid in unsure:
            self._verdicts[pid] = _holds(self.proc, pid, self.marker)
        for pid in listed - self._verdicts.keys():
            self._verdicts[pid] = pid != me and (_holds(self.proc, pid, self.marker) or None)
        return sorted(pid for pid, ours in self._verdicts.items() if ours)

    def summary(self, wall: float | None = None) -> record.Resources:
        """The attempt's `resources`: what was sampled, completed by the kernel's count of
        the reaped children (their CPU, largest resident memory and I/O). Never raises:
        a bug here must not keep the run from ending."""
        try:
            return self._summary(wall)
        except Exception as e:
            return {"samples": self._samples, "error": f"not summed up: {type(e).__name__}: {e}"}

    def _summary(self, wall: float | None) -> record.Resources:
        wall = time.monotonic() - self._started if wall is None else wall
        usage = _Usage.now()
        cpu = max(self._cpu_ticks / self._ticks, usage.cpu - self._usage.cpu)
        rss = self._rss_peak
        if usage.max_rss_kb > self._usage.max_rss_kb:  # a child of this attempt's did
            rss = max(rss, usage.max_rss_kb * 1024)
        found: record.Resources = {
            "cpu_seconds": round(cpu, 3),
            "cpu_util_mean": round(100 * cpu / wall, 1) if wall > 0 else None,
            "rss_peak_mb": round(rss / MIB, 1),
            "swap_peak_mb": round(self._swap_peak / MIB, 1),
            "read_bytes": max(self._read, usage.read - self._usage.read),
            "write_bytes": max(self._written, usage.written - self._usage.written),
            "processes_peak": self._processes_peak,
            "samples": self._samples,
            "every": self.every if self.every != float("inf") else None,
        }
        if self._gpu is not None:
            found["gpu"] = self._gpu.summary()
            self._gpu.stop()
        if self.error:
            found["error"] = self.error
        return found


def _holds(proc: str, pid: int, marker: str) -> bool:
    """Whether the environment of `pid` holds `marker` (NAME=VALUE); a process that
    cannot be read (another user's, ended) is not the run's."""
    try:
        return environ_holds(_read(f"{proc}/{pid}/environ"), marker)
    except OSError:
        return False


class _Reading(NamedTuple):
    cpu: int  # clock ticks of its own (user + system)
    pages: int  # resident
    swap_kb: int  # swapped out
    storage: tuple[int, int] | None  # storage bytes read and written (None: unreadable)


def _read_process(proc: str, pid: int) -> _Reading | None:
    """One process now; None when it is gone or its stat cannot be read."""
    try:
        fields = _read(f"{proc}/{pid}/stat").rsplit(b")", 1)[1].split()
        cpu = int(fields[11]) + int(fields[12])
        pages = int(fields[21])
    except (OSError, IndexError, ValueError):
        return None
    return _Reading(cpu, pages, _swap_kb(proc, pid), _storage(proc, pid))


def _swap_kb(proc: str, pid: int) -> int:
    try:
        status = _read(f"{proc}/{pid}/status")
        start = status.index(b"VmSwap:") + len(b"VmSwap:")
        return int(status[start : status.index(b"kB", start)])
    except (OSError, ValueError):  # gone, or a kernel thread (no VmSwap line)
        return 0


def _storage(proc: str, pid: int) -> tuple[int, int] | None:
    try:
        lines = _read(f"{proc}/{pid}/io").splitlines()
        counts = dict(line.split(b": ", 1) for line in lines if b": " in line)
        return int(counts[b"read_bytes"]), int(counts[b"write_bytes"])
    except (OSError, ValueError, KeyError):
        return None


def _read(path: str) -> bytes:
    """A /proc file's content (read to its end: an environment may be long)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def stream(run_dir: Path) -> Path:
    """The live file of the samples: `watch` reads its end as it reads the series'."""
    return run_dir / series.LIVE / FILE


def append(run_dir: Path, data: bytes) -> None:
    """Append `data` to the live samples file, never through a link put in its place."""
    folder = os.open(run_dir / series.LIVE, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
        fd = os.open(FILE, flags, 0o644, dir_fd=folder)
    finally:
        os.close(folder)
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            os.write(fd, data)
    finally:
        os.close(fd)

"""Sweeps as plain files in the archive, beside the runs:

    <archive>/sweeps/s0001/sweep.json     id, uid, name, hypothesis, observations, the
                                          definition, the stage graph's digest, times
    <archive>/sweeps/s0001/plan.jsonl     one line per point: {"index", "vars", "hash"},
                                          and an adaptive search's trial its "origin"
    <archive>/sweeps/s0001/claims/<i>     who runs point i now (host, pid, start time)
    <archive>/sweeps/s0001/results/<i>.json  the run point i ran as last, and its status
    <archive>/sweeps/s0001/expfile.yaml, code.patch   what every point runs
    <archive>/sweeps/s0001/annotations/   notes and tags added to the sweep afterwards

Ids (`s0001`, ...) are allocated as run ids are: a complete folder renamed into place.
The plan only grows: extending a random sweep appends points and never changes one; an
adaptive search appends one line per asked trial (`append`, a journal: a line torn by a
kill is no point, and the next append cuts it off).
A claim is a file created exclusively, so that two resumes never run one point; a claim
whose holder died on this host is taken over (renamed aside first, so that only one
taker wins).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from expman import fsutil, processes
from expman.errors import ArchiveError, UsageError
from expman.slurm import scheduler
from expman.store import annotation, objects, record
from expman.store.archive import Archive
from expman.store.sweepref import SWEEP, SWEEP_ID, SWEEPS_DIR
from expman.sweeps.plan import Point, point_hash

PLAN = "plan.jsonl"
CLAIMS = "claims"
RESULTS = "results"  # <index>.json: the run a point ran as, and its status
INTERMEDIATE = "intermediate"  # <index>.json: a pruned search's trial's reported values
MAX_STEPS = 10_000  # intermediate values kept per trial
MAX_REPORT_BYTES = 1 << 20  # a larger report is none (10,000 steps take about 300 KB)
TRIAL_TAG = "trial"  # a search's trials are tagged so; `expman tag N -trial` takes one out
UNWRITTEN_SECONDS = 10.0  # an empty claim this old was left by a writer that died

Signature = tuple[int, int, int, int]  # a file's device, inode, size and mtime in ns


class Sweeps:
    """The sweeps of one archive."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.root = archive.root / SWEEPS_DIR

    def folder(self, sweep_id: str) -> Path:
        """The folder of one sweep (`sweep_id` as records name it: checked, never a path)."""
        if not SWEEP_ID.fullmatch(sweep_id):
            raise ArchiveError(f"{sweep_id!r} is not a sweep id (s0001, s0002, ...)")
        return self.root / sweep_id

    def ids(self) -> list[str]:
        """Every sweep id, in order."""
        try:
            names = os.listdir(self.root)  # noqa: PTH208
        except OSError:
            return []
        return sorted((n for n in names if SWEEP_ID.match(n)), key=lambda n: int(n[1:]))

    def create(
        self, data: dict[str, Any], plan: Sequence[Point], files: dict[str, bytes] | None = None
    ) -> str:
        """Allocate the next id for a sweep with this `sweep.json` data, plan and `files`
        (what every point runs: `expfile.yaml`, `code.patch`)."""
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".new-", dir=self.root))
        try:
            (staging / CLAIMS).mkdir()
            for name, content in (files or {}).items():
                fsutil.write_atomic(staging / name, content)
            _write_plan(staging / PLAN, plan)
            ids = self.ids()
            number = int(ids[-1][1:]) + 1 if ids else 1
            while True:
                sweep_id = f"s{number:04d}"
                created, created_epoch = record.stamp(_now())
                data.update(
                    id=sweep_id,
                    uid=data.get("uid") or record.new_uid(),
                    created=created,
                    created_epoch=created_epoch,
                )
                fsutil.write_json_atomic(staging / SWEEP, data)
                try:
                    staging.rename(self.folder(sweep_id))
                except OSError as e:
                    if not self.folder(sweep_id).exists():
                        raise ArchiveError(f"cannot create a sweep in {self.root}: {e}") from e
                    number += 1
                    continue
                return sweep_id
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def read(self, sweep_id: str) -> dict[str, Any]:
        """A sweep's `sweep.json`."""
        path = self.folder(sweep_id) / SWEEP
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError) as e:
            raise ArchiveError(f"{path}: cannot read the sweep: {e}") from e
        if not isinstance(data, dict):
            raise ArchiveError(f"{path}: damaged sweep: not a JSON object")
        return data

    def write(self, data: dict[str, Any]) -> None:
        """Replace a sweep's `sweep.json` atomically."""
        fsutil.write_json_atomic(self.folder(data["id"]) / SWEEP, data)

    def plan(self, sweep_id: str) -> list[Point]:
        """A sweep's points, in index order."""
        return self.plan_reader(sweep_id).points()

    def plan_reader(self, sweep_id: str) -> PlanReader:
        """A reader of the sweep's plan, to be kept by whoever reads it again and again."""
        return PlanReader(self.folder(sweep_id) / PLAN, self.graph(sweep_id))

    def graph(self, sweep_id: str) -> str:
        """The digest of the stage graph the sweep's points run (each point's hash names it)."""
        found = self.read(sweep_id).get("graph")
        if not isinstance(found, str):
            raise ArchiveError(f"{self.folder(sweep_id) / SWEEP}: damaged sweep: no 'graph'")
        return found

    def asked(self, sweep_id: str) -> int:
        """How many points the plan holds (its whole lines), none of them parsed."""
        path = self.folder(sweep_id) / PLAN
        try:
            return path.read_bytes().count(b"\n")
        except OSError as e:
            raise ArchiveError(f"{path}: cannot read the plan: {e}") from e

    def point(self, sweep_id: str, index: int) -> Point:
        """Point `index` of a sweep's plan: its line alone is parsed (a point of a sweep of
        1,000 costs what one of 10 does), the whole plan when that line is not it."""
        path = self.folder(sweep_id) / PLAN
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise ArchiveError(f"{path}: cannot read the plan: {e}") from e
        if 0 <= index < len(lines):
            try:
                alone = _point_of(json.loads(lines[index]))
                graph = self.graph(sweep_id)
                if alone.index == index and point_hash(alone.vars, graph) == alone.hash:
                    return alone
            except (ValueError, KeyError, TypeError, AttributeError):
                pass  # said with its line number by `plan`
        found = [point for point in self.plan(sweep_id) if point.index == index]
        if not found:
            raise ArchiveError(f"{path}: sweep {sweep_id} has no point {index}")
        return found[0]

    def append(self, sweep_id: str, point: Point) -> None:
        """Append `point` to the plan as one line, synced (the caller holds the sweep
        folder's lock, so that no other append runs at once): a line torn by an earlier
        kill is cut off first."""
        path = self.folder(sweep_id) / PLAN
        with path.open("r+b") as f:
            content = f.read()
            whole = content.rfind(b"\n") + 1
            if whole != len(content):
                f.truncate(whole)
            f.seek(whole)
            f.write((_plan_line(point) + "\n").encode())
            f.flush()
            os.fsync(f.fileno())

    def extend(self, sweep_id: str, plan: Sequence[Point]) -> int:
        """Grow the sweep's plan to `plan`, whose first points must be the sweep's own;
        returns how many points were added."""
        have = self.plan(sweep_id)
        if len(plan) < len(have):
            raise UsageError(
                f"sweep {sweep_id}: {len(plan)} points asked, but the sweep has {len(have)} "
                "points: a plan only grows"
            )
        if [p.hash for p in plan[: len(have)]] != [p.hash for p in have]:
            raise UsageError(
                f"sweep {sweep_id}: the new plan does not begin with the sweep's "
                f"{len(have)} points (another definition, seed or stage graph?)"
            )
        if len(plan) > len(have):
            _write_plan(self.folder(sweep_id) / PLAN, plan)
        return len(plan) - len(have)

    def resolve(self, name: str) -> str:
        """A sweep id from what a user typed: `s0003`, `3`, `last`."""
        ids = self.ids()
        if name == "last" and ids:
            return ids[-1]
        digits = name[1:] if name[:1] == "s" else name
        if digits.isdigit() and f"s{int(digits):04d}" in ids:
            return f"s{int(digits):04d}"
        raise UsageError(f"'{name}' is not a sweep in {self.root} (try s0001, 1 or last)")

    def annotate(self, sweep_id: str, entry: dict[str, Any]) -> dict[str, Any]:
        """Add a note or tag change to a sweep, as to a run (`annotation`): a file of its
        own in the sweep's folder, derived into `sweep.json` under the folder's lock."""
        folder = self.folder(sweep_id)
        annotation.add(folder, entry)
        with fsutil.locked(folder):
            data = annotation.apply(self.read(sweep_id), annotation.entries(folder))
            self.write(data)
        return data

    def note_result(
        self, sweep_id: str, index: int, result: dict[str, Any], durable: bool = True
    ) -> None:
        """Note which run point `index` ran as, and how it ended (for the sweep's view);
        without `durable`, not synced (a point's own notes: a power cut stops it, and the
        run's record, synced as it ends, is what the resume and the status go by)."""
        folder = self.folder(sweep_id) / RESULTS
        folder.mkdir(exist_ok=True)
        fsutil.write_json_atomic(folder / f"{index}.json", result, sync=durable)

    def result(self, sweep_id: str, index: int) -> dict[str, Any] | None:
        """The latest result noted for point `index`, or None."""
        try:
            data = json.loads((self.folder(sweep_id) / RESULTS / f"{index}.json").read_bytes())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def report(self, sweep_id: str, index: int, reported: dict[str, Any]) -> None:
        """Keep what trial `index` of a search that prunes reported: `steps`, `values`
        and `attrs` (what the pruner keeps of it); not synced (it is written again and
        again while the trial runs)."""
        folder = self.folder(sweep_id) / INTERMEDIATE
        folder.mkdir(exist_ok=True)
        fsutil.write_json_atomic(folder / f"{index}.json", reported, sync=False)

    def intermediate(self, sweep_id: str, index: int) -> dict[str, Any]:
        """What trial `index` reported (`report`): whole steps and finite values, and
        the pruner's numbers; empty when nothing, or nothing readable (a file of the
        archive, read as untrusted: never through a link, nor past `MAX_REPORT_BYTES`)."""
        return self.reread_intermediate(sweep_id, index, None)[1] or _no_report()

    def reread_intermediate(
        self, sweep_id: str, index: int, known: Signature | None
    ) -> tuple[Signature | None, dict[str, Any] | None]:
        """What trial `index` reported, read again only when its file changed: the
        file's signature (device, inode, size, mtime in ns; None when there is no file),
        and what it holds (`intermediate`), or None when the signature is still `known`."""
        name = f"{INTERMEDIATE}/{index}.json"
        try:
            found = (self.folder(sweep_id) / name).lstat()
        except OSError:
            return None, _no_report()
        if _signature(found) == known:
            return known, None  # one stat, nothing read
        try:
            with os.fdopen(objects.open_below(self.folder(sweep_id), name), "rb") as f:
                opened = os.fstat(f.fileno())
                content = f.read(MAX_REPORT_BYTES + 1)
        except OSError:  # a link, a pipe, a folder, gone: no report, until it changes
            return _signature(found), _no_report()
        if len(content) > MAX_REPORT_BYTES:
            return _signature(opened), _no_report()
        return _signature(opened), _report_of(content)

    def noted(self, sweep_id: str) -> set[int]:
        """The points with a result noted: a run was opened for each."""
        try:
            names = os.listdir(self.folder(sweep_id) / RESULTS)  # noqa: PTH208
        except OSError:
            return set()
        return {int(n[: -len(".json")]) for n in names if n[: -len(".json")].isdigit()}

    def claims(self, sweep_id: str) -> Claims:
        """The claims on the sweep's points."""
        return Claims(self.folder(sweep_id) / CLAIMS)


class PlanReader:
    """A plan read again and again as it grows (an adaptive search's, at each ask): the
    whole lines parsed so far are kept with their bytes, and only the lines after them
    are parsed; all of it again when those bytes changed (a plan edited by hand)."""

    def __init__(self, path: Path, graph: str) -> None:
        self.path, self.graph = path, graph  # the sweep's stage graph: a point's hash names it
        self.parsed = b""  # the whole lines parsed so far
        self.found: list[Point] = []

    def points(self) -> list[Point]:
        """The plan's points now, in index order; `ArchiveError` saying the line of a
        damaged one or one out of its place."""
        try:
            content = self.path.read_bytes()
        except OSError as e:
            raise ArchiveError(f"{self.path}: cannot read the plan: {e}") from e
        whole = content[: content.rfind(b"\n") + 1]  # past it: a line an append left torn
        if not whole.startswith(self.parsed):
            self.parsed, self.found = b"", []
        found = list(self.found)
        try:
            lines = whole[len(self.parsed) :].decode().split("\n")[:-1]
        except UnicodeDecodeError as e:
            raise ArchiveError(f"{self.path}: cannot read the plan: {e}") from e
        for number, line in enumerate(lines, start=len(found) + 1):
            try:
                found.append(_point_of(json.loads(line)))
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                raise ArchiveError(f"{self.path}:{number}: damaged plan line") from e
            if found[-1].index != number - 1:
                problem = f"point {found[-1].index} out of its place"
                raise ArchiveError(f"{self.path}:{number}: {problem}")
            if point_hash(found[-1].vars, self.graph) != found[-1].hash:  # edited by hand
                problem = "damaged plan line: its values are not those its hash names"
                raise ArchiveError(f"{self.path}:{number}: {problem}")
        self.parsed, self.found = whole, found
        return list(found)


class Claims:
    """Who runs which point: one file per point, created exclusively."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def take(self, index: int, holder: dict[str, Any] | None = None) -> bool:
        """Claim point `index` for this process (or `holder`); False when someone alive
        holds it."""
        mine = holder or _holder()
        path = self.folder / str(index)
        for _ in range(2):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                if not self._take_over(path):
                    return False
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(mine, f)
            return True
        return False

    def release(self, index: int) -> None:
        """Let go of point `index`."""
        (self.folder / str(index)).unlink(missing_ok=True)

    def held(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """The claims held now: (index, holder)."""
        try:
            names = os.listdir(self.folder)  # noqa: PTH208
        except OSError:
            return
        for name in sorted((n for n in names if n.isdigit()), key=int):
            holder = _read(self.folder / name)
            if holder is not None:
                yield int(name), holder

    def _take_over(self, path: Path) -> bool:
        """Move aside a claim whose holder is dead; True when the claim is free to take
        again (this process moved it, or it was released)."""
        holder = _read(path)
        if holder is None:
            return True  # released meanwhile: try to create it again
        if holder == {}:  # not written yet, or its writer died before it wrote
            try:
                if time.time() - path.stat().st_mtime < UNWRITTEN_SECONDS:
                    return False
            except FileNotFoundError:
                return False
        elif _alive(holder):
            return False
        aside = path.with_name(f".stale-{path.name}-{os.urandom(4).hex()}")
        try:
            path.rename(aside)  # only one of several takers finds the claim to move
        except FileNotFoundError:
            return True  # another taker moved it: race it for the new claim
        aside.unlink(missing_ok=True)
        return True


def _no_report() -> dict[str, Any]:
    return {"steps": [], "values": [], "attrs": {}}


def _signature(found: os.stat_result) -> Signature:
    """What says a file changed: a new inode (atomic replaces), a size or an mtime."""
    return (found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns)


def _report_of(content: bytes) -> dict[str, Any]:
    """A trial's report from its file's bytes, as untrusted: whole steps with finite
    values (at most `MAX_STEPS`), the pruner's numbers under short names; empty when
    it is no report."""
    try:
        data = json.loads(content)
    except (ValueError, RecursionError):
        return _no_report()
    if not isinstance(data, dict):
        return _no_report()
    steps, values = data.get("steps"), data.get("values")
    if not isinstance(steps, list) or not isinstance(values, list) or len(steps) != len(values):
        return _no_report()
    pairs = [
        (s, float(v))
        for s, v in zip(steps[:MAX_STEPS], values[:MAX_STEPS], strict=True)
        if type(s) is int and _finite(v)
    ]
    attrs = data.get("attrs")
    kept = {
        k: v
        for k, v in (attrs.items() if isinstance(attrs, dict) else [])
        if isinstance(k, str) and len(k) <= 100 and _finite(v)
    }
    return {"steps": [s for s, _ in pairs], "values": [v for _, v in pairs], "attrs": kept}


def _finite(value: Any) -> bool:
    """A number (never a boolean) that is finite."""
    return type(value) in (int, float) and math.isfinite(value)


def _holder() -> dict[str, Any]:
    pid = os.getpid()
    since, since_epoch = record.stamp(_now())
    found = {
        "host": processes.host(),
        "pid": pid,
        "start_ticks": processes.start_time(pid),
        "since": since,
        "since_epoch": since_epoch,
    }
    job = _slurm_job(os.environ)
    if job is not None:
        found["slurm_job"] = job
    return found


def _slurm_job(env: Mapping[str, str]) -> dict[str, str] | None:
    """The Slurm job (or array task, `12_3`) this process runs in, and its name."""
    if "SLURM_JOB_ID" not in env:
        return None
    array, task = env.get("SLURM_ARRAY_JOB_ID"), env.get("SLURM_ARRAY_TASK_ID")
    job_id = f"{array}_{task}" if array and task else env["SLURM_JOB_ID"]
    return {"id": job_id, "name": env.get("SLURM_JOB_NAME", "")}


def _alive(holder: dict[str, Any]) -> bool:
    """Whether a claim's holder may still be running: on this host its pid and start
    time say; on another, Slurm says when the holder ran in a Slurm job (`_job_alive`),
    else it is taken to be (only its own host can tell)."""
    if holder.get("host") != processes.host():
        return _job_alive(holder.get("slurm_job"))
    pid = holder.get("pid")
    if not isinstance(pid, int):
        return False
    ticks = holder.get("start_ticks")
    return processes.same_process_alive(pid, ticks if isinstance(ticks, int) else None)


def _job_alive(job: Any) -> bool:
    """Whether a holder's Slurm job (as `_slurm_job` wrote it, in a claim: untrusted)
    may still run: False only when Slurm answers and lists it under its name no more, or
    as finished (cancelled, killed, its node lost). Ids are checked before Slurm is asked."""
    if not isinstance(job, dict):
        return True
    job_id, name = job.get("id"), job.get("name")
    if not isinstance(job_id, str) or not scheduler.is_job_id(job_id):
        return True
    if not isinstance(name, str) or not name or "," in name:  # squeue splits names at ","
        return True
    if scheduler.available() is not None:
        return True
    try:
        found = scheduler.named(name).get(job_id)
    except scheduler.SlurmError:
        return True  # no answer to trust
    return found is not None and found.state not in scheduler.FINISHED


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_bytes() or b"{}")
    except (OSError, ValueError):
        return {} if path.exists() else None  # being written: its holder is alive
    return data if isinstance(data, dict) else {}


def _write_plan(path: Path, plan: Sequence[Point]) -> None:
    fsutil.write_atomic(path, "".join(_plan_line(p) + "\n" for p in plan).encode())


def _point_of(row: Any) -> Point:
    """A plan line's point (`ValueError`, `KeyError`, `TypeError` or `AttributeError` when
    the line is no point)."""
    origin = row.get("origin")
    kept = origin if isinstance(origin, dict) else None
    return Point(int(row["index"]), row["vars"], str(row["hash"]), kept)


def _plan_line(point: Point) -> str:
    row: dict[str, Any] = {"index": point.index, "vars": point.vars, "hash": point.hash}
    if point.origin is not None:
        row["origin"] = point.origin
    return json.dumps(row, ensure_ascii=False)


def _now() -> float:
    return time.time()


def end_orphans(archive: Archive, sweep_id: str, loaded: list[Any] | None = None) -> list[str]:
    """End the runs of the sweep that a point killed outright (SIGKILL: `scancel -s KILL`,
    the OOM killer) left `started`: made, never opened (no attempt, no open marker), and
    no live process holds their point (its maker may be opening it). Each is recorded
    interrupted; their ids. `loaded`: the records (their `sweep`, `status` and `uid` at
    least), when the caller has them."""
    if loaded is None:
        from expman.store import index  # the record cache: a sweep's status and resume need it

        loaded, _ = index.load(archive, {"sweep", "status", "uid"})
    runs = loaded
    started = [
        run
        for run in runs
        if run.get("status") == record.STARTED
        and isinstance(run.get("sweep"), dict)
        and run["sweep"].get("id") == sweep_id
    ]
    if not started:
        return []
    held = dict(Sweeps(archive).claims(sweep_id).held())
    opened = {str(marker.get("id")) for marker in archive.open_markers()}
    ended = []
    for run in started:
        holder = held.get(run["sweep"].get("index"))
        if run["id"] in opened or (holder is not None and (holder == {} or _alive(holder))):
            continue
        if archive.update(run["id"], _ended_if_never_opened(run["uid"])) is not None:
            ended.append(run["id"])
    return ended


def _ended_if_never_opened(uid: str) -> Callable[[record.Record], bool]:
    def change(found: record.Record) -> bool:
        if found.get("uid") != uid or found["status"] != record.STARTED or found.get("attempts"):
            return False
        record.end(found, found.get("observations") or "", [], _now())
        return True

    return change


def record_observations(archive: Archive, sweep_id: str, text: str) -> list[str]:
    """Record the sweep's observations in `sweep.json`, then derive them again into each
    of its runs' records (`sweepref`), so that queries reach them from every run; the
    ids of those runs. A point that ends later derives them as it is written."""
    from expman.store import index  # the record cache: only this command needs it

    sweeps = Sweeps(archive)
    with fsutil.locked(sweeps.folder(sweep_id)):  # as annotations of the sweep are written
        data = sweeps.read(sweep_id)
        ended, ended_epoch = record.stamp(_now())
        data.update(observations=text, ended=ended, ended_epoch=ended_epoch)
        sweeps.write(data)
    runs, _ = index.load(archive, {"sweep", "origin"})
    ids = []
    for run in runs:
        tag = run.get("sweep")
        if isinstance(tag, dict) and tag.get("id") == sweep_id and run.get("origin") is None:
            archive.refresh(run["id"])
            ids.append(run["id"])
    return ids

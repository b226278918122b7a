"""One execution of the stage graph: the attempt that `expman run` or `doit` makes.

doit calls `begin` (through the hidden `_expman` task), `execute` for each step it runs,
and `finish` (the teardown of `_expman`) once every task is done, failed or interrupted;
the reporter in `engine` tells about steps it skipped or could not run. Every state
change is written to the run's record at once, so a crash leaves it telling the truth.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any, TextIO

from expman import processes
from expman.errors import ArchiveError, ExpmanError, StageError, UsageError
from expman.expfile.model import Config, Step, env_text
from expman.observe import heartbeat, metrics, resources, series
from expman.output import printable, style, write_line
from expman.running import execute, outputs, snapshot
from expman.running.openrun import (
    RUN_MARKER,
    mark_open,
    open_record,
    refuse_if_queued,
    repair,
    runner,
)
from expman.running.outputs import OUTPUTS
from expman.running.state import STATE_DIR, Lock, State
from expman.running.workspace import Workspace
from expman.slurm import environment, signals
from expman.store import record
from expman.store.archive import Archive
from expman.store.environment import CONDA_LIST


class Session:
    """The attempt in progress, and the run it belongs to."""

    def __init__(
        self,
        config: Config,
        streams: tuple[TextIO, TextIO],
        workspace: Workspace | None = None,
    ) -> None:
        self.config = config
        self.workspace = workspace  # a sweep point's or a rerun's (None: the experiment's)
        self.root = config.root
        self.out, self.err = streams
        self.state = State(self.root)
        self.archive = Archive(self.root / config.archive)
        self.record: record.Record | None = None
        self.interrupted = False
        self._executed: set[str] = set()
        self._error: ExpmanError | None = None  # raised inside doit: raised again after it
        self._lock: Lock | None = None
        self._monitor: heartbeat.Monitor | None = None
        # A run in a workspace is ended by the process that runs it, right after its last
        # attempt (`inworkspace`), and that end is synced: an earlier state that a power
        # cut loses leaves what a kill at an earlier moment leaves, which the repair ends
        # `interrupted` (docs/reliability.md). A run of the experiment itself may wait
        # days for its `end`, so each of its facts is synced as it happens.
        self._durable = workspace is None

    # -- the run -----------------------------------------------------------------

    def acquire(self) -> None:
        """Take the experiment's lock (refused at once if another command holds it)."""
        if self._lock is None:
            self._lock = self.state.acquire("run")

    def release(self) -> None:
        """Let go of the lock (also done by `finish`)."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def begin(self) -> None:
        """Open the run (starting one if none is open) and a new attempt; snapshot."""
        try:
            self._begin()
        except ExpmanError as e:
            self._error = e
            raise

    def raise_error(self) -> None:
        """Raise again the error that beginning the run raised inside doit, if any (doit
        reports an exception of a task's action as the task's failure)."""
        if self._error is not None:
            raise self._error

    def _begin(self) -> None:
        self.acquire()
        repair(self.root)
        run = open_or_start(self.config, self.state, self.archive, hypothesis=None)
        refuse_if_queued(run)
        run_dir = self.archive.run_dir(run["id"])
        self._clear_outputs(run, run_dir)
        _shelve_previous_attempt(run_dir, len(run["attempts"]))
        (run_dir / "logs").mkdir(exist_ok=True)
        with self.archive.objects.writing():  # `gc` never frees what is being linked
            taken = snapshot.take(
                self.config,
                store=self.archive.objects,
                run_dir=run_dir,
                warn=self._warn,
                code=None if self.workspace is None else self.workspace.code,
            )
        if self.workspace is not None:  # a detached worktree: the code's branch is known
            taken["code"]["branch"] = self.workspace.branch
        record.begin_attempt(run, self.config, taken, time.time())
        record.current_attempt(run)["runner"] = runner()
        record.set_backend(run, environment.describe())
        self._write(run)
        # Only now is there an attempt of this session's: steps doit reports before this
        # (when beginning failed) must not be written into an earlier attempt.
        self.record = run
        attempt = len(run["attempts"])
        series.begin(run_dir)
        self._monitor = heartbeat.Monitor(run_dir, run, attempt, self._sampler(run))
        self._monitor.start()
        label = f"run {run['id']}" + (f", attempt {attempt}" if attempt > 1 else "")
        given = " ".join(f"{k}={env_text(v)}" for k, v in self.config.overrides.items())
        label += f" ({self.config.name})" + (f": {given}" if given else "")  # as stages see them
        write_line(self.err, style(printable(f"expman: {label}"), "bold", self.err))

    def execute(self, step: Step) -> bool:
        """Run one step; True when it exited 0."""
        run = self._current()
        self._executed.add(step.task_name)
        run_dir = self.archive.run_dir(run["id"])
        logs = (
            run_dir / "logs" / f"{step.log_name}.out",
            run_dir / "logs" / f"{step.log_name}.err",
        )
        write_line(self.err, style(f"── {step.task_name}", "cyan", self.err))
        started = time.time()
        entry = _stage_entry(step.task_name, record.STEP_RUNNING, started)
        entry["logs"] = [_rel(p, run_dir) for p in logs]
        record.add_stage(run, entry)  # written with the step's pid, once it has one
        try:
            argv = execute.command_line(step.cmd, step.script, step.args, self.root)
            finished = execute.run(
                argv,
                self.root,
                self._env(step, run_dir),
                logs,
                (self.out, self.err),
                on_start=lambda pid: self._started(entry, pid),
            )
        except KeyboardInterrupt:
            self.interrupted = True
            entry.update(
                {"status": record.STEP_INTERRUPTED, "duration": round(time.time() - started, 3)}
            )
            self._write(run)
            raise
        except StageError as e:
            entry.update({"status": record.STEP_FAILED, "error": str(e)})
            self._write(run)
            message = printable(f"expman: {step.task_name}: {e}")
            write_line(self.err, style(message, "red", self.err))
            return False
        ok = finished.returncode == 0
        # A success stays `running` until doit has saved it (`completed`, which writes
        # the record): a kill in between must not leave a record claiming more than doit
        # will remember.
        entry.update(
            {
                "status": record.STEP_RUNNING if ok else record.STEP_FAILED,
                "exit_code": finished.returncode,
                "duration": round(finished.duration, 3),
            }
        )
        if not ok:
            self._write(run)
            message = f"expman: {step.task_name} failed with exit code {finished.returncode}"
            write_line(self.err, style(message, "red", self.err))
        return ok

    def completed(self, task_name: str) -> None:
        """doit saved the success of a step this attempt ran: now the record says so."""
        if self.record is None or task_name.startswith("_"):
            return
        for entry in self.record["stages"]:
            if entry["name"] == task_name and entry["status"] == record.STEP_RUNNING:
                entry["status"] = record.RAN
                self._write(self.record)

    def failed(self, task_name: str, message: str) -> None:
        """doit failed a step: one it failed before it started (a dependency missing...) is
        recorded and said here; one that ran has said and recorded its failure already."""
        if task_name in self._executed:
            return
        self.skipped(task_name, record.STEP_FAILED, message)
        if self._error is None:  # else beginning failed, and its error is said once
            write_line(self.err, printable(f"expman: {task_name}: {message}"))

    def state_lost(self, task_name: str) -> None:
        """doit could not save that a step succeeded (its state file was removed)."""
        if not task_name.startswith("_"):
            self._warn(f"{task_name}: doit's state in {STATE_DIR}/ is gone: it will run again")

    def _started(self, entry: record.Stage, pid: int) -> None:
        entry["pid"] = pid  # the step's process (and group): a dead run's leftovers show
        # Not synced: after a power cut nothing is running, and the repair says so.
        self.archive.write(self._current(), durable=False)

    def skipped(self, task_name: str, status: str, reason: str | None = None) -> None:
        """A step doit did not execute: up to date (`skipped`) or after a failure (`not-run`)."""
        if self.record is None or task_name.startswith("_"):
            return
        entry = _stage_entry(task_name, status, None)
        if reason:
            entry["reason"] = reason
        record.add_stage(self.record, entry)
        self._write(self.record)
        if status == record.SKIPPED:
            write_line(self.err, style(f"── {task_name}: up to date, skipped", "dim", self.err))

    def finish(self) -> None:
        """Close the attempt: its status, the metrics; release the lock."""
        try:
            if self.record is None:
                return
            steps = self.record["stages"]
            for step in steps:  # started, but never completed as far as doit knows
                if step["status"] == record.STEP_RUNNING:
                    step["status"] = record.STEP_INTERRUPTED
                    self.interrupted = True
            if self.interrupted:
                status = record.INTERRUPTED
                why = signals.reason()  # inside a Slurm job: its warning, or a cancel
                if why is not None:
                    record.current_attempt(self.record)["reason"] = why
            elif any(s["status"] in (record.STEP_FAILED, record.NOT_RUN) for s in steps):
                status = record.FAILED
            else:
                status = record.SUCCEEDED
            # What a stage left running (a `cmd &`, a daemon, or anything that escaped its
            # process group while it was stopped) dies with the attempt: it could still
            # write to outputs/ after they were archived. So does a step an interrupt met
            # between its fork and its exec (a child of this runner, not yet marked).
            marker = f"{RUN_MARKER}={self.record['uid']}"
            leftovers = processes.stop_all(marker, children=True)
            if leftovers and not self.interrupted:
                self._warn(
                    f"{leftovers} process{'es' if leftovers > 1 else ''} "
                    "left running by the stages stopped"
                )
            if self._changed_shared_data() and not self.interrupted:
                status = record.FAILED
            values, problem = self._metrics()
            if problem:
                self._warn(problem)
            record.finish_attempt(self.record, status, values, time.time(), leftovers, problem)
            self._keep_series()
            self._write(self.record)
            series.discard(self.archive.run_dir(self.record["id"]))
            colour = "green" if status == record.SUCCEEDED else "red"
            write_line(
                self.err, style(f"expman: run {self.record['id']} {status}", colour, self.err)
            )
        finally:
            self.release()

    # -- helpers -----------------------------------------------------------------

    def _changed_shared_data(self) -> bool:
        """Whether the attempt changed a file its workspace shares (said, and recorded)."""
        assert self.record is not None
        changed = self.workspace.shared.changed() if self.workspace is not None else []
        if not changed:
            return False
        reason = record.data_changed(self.record, changed)
        write_line(self.err, style(f"expman: run {self.record['id']} {reason}", "red", self.err))
        return True

    def _keep_series(self) -> None:
        """The attempt's metric series: read to the end, summarised, stored."""
        assert self.record is not None and self._monitor is not None
        reader = self._monitor.finish()
        if self._monitor.sampler is not None:
            record.add_resources(self.record, self._monitor.sampler.summary())
        self._monitor = None
        run_dir = self.archive.run_dir(self.record["id"])
        problem = series.keep(reader, run_dir, self.archive.objects)
        record.add_series(self.record, reader.summary(), problem)
        if problem:
            self._warn(problem)

    def _sampler(self, run: record.Record) -> resources.Sampler | None:
        """What samples the run's processes (found by their marker), if the expfile says so."""
        every = self.config.sample_every
        if every is None:
            return None
        return resources.Sampler(f"{RUN_MARKER}={run['uid']}", every)

    def _current(self) -> record.Record:
        if self.record is None:
            raise ArchiveError("no attempt is open (internal: begin was not called)")
        return self.record

    def _env(self, step: Step, run_dir: Path) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")  # so that Python stages stream their output
        env.update(self.config.exported_env(step))
        env.update(step.env)
        env.update(
            EXPMAN_RUN_ID=self._current()["id"],
            EXPMAN_RUN_DIR=str(run_dir.resolve()),
            EXPMAN_OUTPUTS=str((self.root / OUTPUTS).resolve()),
            EXPMAN_METRICS=str(series.stream(run_dir.resolve())),
            EXPMAN_STAGE=step.stage,
            EXPMAN_STEP=step.name,
            EXPMAN_EXPERIMENT=self.config.name,
        )
        env[RUN_MARKER] = self._current()["uid"]
        return env

    def _metrics(self) -> tuple[Any, str | None]:
        """The attempt's metrics, and what went wrong reading them (never raises)."""
        if self.config.metrics is None:
            return None, None
        path = self.root / self.config.metrics
        if not path.is_file():
            return None, f"no metrics file {self.config.metrics}"
        try:
            return metrics.read(path, self.config.metrics), None
        except metrics.MetricsError as e:
            return None, str(e)

    def _clear_outputs(self, run: record.Record, run_dir: Path) -> None:
        """Give the new attempt an empty `outputs/`: the last attempt's outputs are kept
        with that attempt. Files that no attempt of this run made are refused, not lost."""
        folder = outputs.folder(self.root)
        if not run["attempts"]:
            found = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
            if found:
                raise UsageError(
                    f"{OUTPUTS}/ holds files that no attempt of run {run['id']} made "
                    f"({', '.join(found[:3])}{', ...' if len(found) > 3 else ''}): "
                    "move them away, then run again"
                )
        else:
            previous = record.current_attempt(run)
            destination = run_dir / "attempts" / str(previous["number"]) / OUTPUTS
            emptied = not (folder.is_dir() and any(folder.iterdir()))
            if not (emptied and destination.exists()):  # else: archived, then a crash
                earlier = outputs.earlier(self.archive, run["id"])
                previous["outputs"] = outputs.archive(
                    self.root, self.archive.objects, destination, run["id"], self.err, earlier
                )
                self.archive.write(run)
        outputs.empty(self.root)

    def _write(self, run: record.Record) -> None:
        """Write the record of a fact of the attempt (synced unless in a workspace)."""
        self.archive.write(run, durable=self._durable)

    def _warn(self, text: str) -> None:
        write_line(self.err, style(printable(f"expman: warning: {text}"), "yellow", self.err))


def open_or_start(
    config: Config, state: State, archive: Archive, hypothesis: str | None
) -> record.Record:
    """The open run's record, or a new run's (which becomes the open one)."""
    found = open_record(config.root)
    if found is not None:
        archive_of_run, run = found
        if archive_of_run.root != archive.root:
            raise UsageError(
                f"run {run['id']} is open in the archive {archive_of_run.root}, "
                f"but the expfile now says '{config.archive}': end it first"
            )
        return run
    run = record.new(config, hypothesis)
    archive.create(run)
    mark_open(config.root, state, archive, config.archive, run)
    return run


SHELVED = (
    "expfile.yaml",
    "scripts",
    "code.patch",
    "packages.json",
    CONDA_LIST,
    "logs",
    series.FILE,
    series.SAMPLED,
)


def _shelve_previous_attempt(run_dir: Path, attempts: int) -> None:
    """Move the last attempt's snapshot and logs to `attempts/N/`: the record keeps all."""
    if attempts == 0:
        return
    shelf = run_dir / "attempts" / str(attempts)
    shelf.mkdir(parents=True, exist_ok=True)
    (run_dir / heartbeat.FILE).unlink(missing_ok=True)  # left by a runner that died
    for name in SHELVED:
        current = run_dir / name
        if not (shelf / name).exists():
            if current.exists():
                current.replace(shelf / name)
        elif current.is_dir():  # already shelved: this is left by an unrecorded attempt
            shutil.rmtree(current)
        else:
            current.unlink(missing_ok=True)


def _stage_entry(task_name: str, status: str, started: float | None) -> record.Stage:
    return {
        "name": task_name,
        "stage": task_name.split(":")[0],
        "status": status,
        "exit_code": None,
        "started": record.stamp(started)[0] if started is not None else None,
        "started_epoch": record.stamp(started)[1] if started is not None else None,
        "duration": None,
        "logs": [],
    }


def _rel(path: Path, base: Path) -> str:
    return path.relative_to(base).as_posix()

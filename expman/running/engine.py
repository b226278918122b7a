"""The only module that imports doit: the task namespace, running it, and asking its state.

`namespace()` is shared by `expman run` and by the `dodo.py` shim that `expman init`
writes, so both build the same tasks with the same DOIT_CONFIG (see pipeline). doit is
always called with `config_filenames=()`, so a user's doit.cfg or `[tool.doit]` cannot
change expman's behaviour.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import sqlite3
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, TextIO

from expman import fsutil
from expman.errors import EXIT_USAGE, ExpmanError, UsageError
from expman.expfile import loading, location
from expman.expfile.model import Config, Step
from expman.output import printable, style, write_line
from expman.running import doitimport, pipeline
from expman.running.session import Session
from expman.running.state import DOIT_DB, STATE_DIR, State
from expman.store import record

with doitimport.lighter():  # doit without what expman never uses of it
    from doit import plugin as doit_plugin
    from doit.cmd_base import ModuleTaskLoader
    from doit.cmdparse import CmdParseError
    from doit.dependency import Dependency, SqliteDB
    from doit.doit_cmd import DoitMain
    from doit.exceptions import InvalidCommand, InvalidDodoFile, InvalidTask
    from doit.globals import Globals
    from doit.loader import generate_tasks
    from doit.reporter import ConsoleReporter


def _no_entry_points(group: str) -> list[Any]:
    return []


@contextlib.contextmanager
def _own_parts() -> Iterator[None]:
    """While held, doit finds no plugins: only its own commands, loaders, back ends and
    reporters, and expman's.

    doit looks plugins up in the entry points of every installed package, three scans
    of all their metadata a run (0.07 s of a trivial `expman run` here, growing with the
    environment: a research one holds hundreds of packages), and an installed plugin
    could replace the back end that keeps expman's state. expman runs doit without
    config files for the same reason. Plain `doit` through the shim is left as it is.
    """
    found = doit_plugin.entry_points_impl
    doit_plugin.entry_points_impl = lambda: _no_entry_points
    try:
        yield
    finally:
        doit_plugin.entry_points_impl = found


class _Loader(ModuleTaskLoader):  # type: ignore[misc]
    """doit's loader of expman's namespace, which makes its tasks without reading source.

    doit's own orders a namespace's task creators by the line each starts at
    (`inspect.getsourcelines`), which reads and tokenizes this file: 2 ms of a run's
    start, 8 ms of a sweep point under load (whose fork of the sweep process has not
    done it). expman's namespace has one creator, with neither parameters nor delays.
    """

    def load_tasks(self, cmd: Any, pos_args: Any) -> list[Any]:
        return _tasks(self.namespace)


def _tasks(found: Mapping[str, Any]) -> list[Any]:
    """The doit tasks of a namespace made by `namespace`."""
    creator = found[_CREATOR]
    tasks: list[Any] = generate_tasks(_CREATOR.removeprefix("task_"), creator(), creator.__doc__)
    return tasks


class _Reporter(ConsoleReporter):  # type: ignore[misc]
    """Tells the session about steps doit did not execute; prints only doit's own errors.

    The session prints the steps it runs; doit's summary is replaced by the record.
    """

    def __init__(self, session: Session, stream: TextIO) -> None:
        super().__init__(stream, {"failure_verbosity": 0})
        self.session = session

    def execute_task(self, task: Any) -> None:
        pass

    def add_success(self, task: Any) -> None:
        if not _persist_state():  # doit saved the task's state just before calling this
            self.session.state_lost(task.name)
        self.session.completed(task.name)

    def skip_uptodate(self, task: Any) -> None:
        self.session.skipped(task.name, record.SKIPPED)

    def skip_ignore(self, task: Any) -> None:
        self.session.skipped(task.name, record.NOT_RUN, "ignored (`doit ignore`)")

    def add_failure(self, task: Any, fail: Any) -> None:
        self._add_failure(task, fail)
        _persist_state()

    def _add_failure(self, task: Any, fail: Any) -> None:
        if fail.get_name() == "UnmetDependency":
            self.session.skipped(task.name, record.NOT_RUN, "an earlier stage failed")
        else:
            self.session.failed(task.name, fail.message)

    def runtime_error(self, msg: str) -> None:
        self.outstream.write(printable(f"expman: {msg}") + "\n")

    def cleanup_error(self, exception: Any) -> None:
        self.outstream.write(printable(f"expman: {exception.get_msg()}") + "\n")

    def complete_run(self) -> None:
        pass


class _SameFiles:
    """doit `uptodate` check: the step's dependency patterns still name the same files.

    When they name others now (an earlier step made or removed some), the task's
    `file_dep` is set to them, so that doit checks and saves the files that really are
    its dependencies, and the next run does not see a changed list again.
    """

    def __init__(self, config: Config, step: Step, files: Sequence[str]) -> None:
        self.config, self.step, self.files = config, step, list(files)

    def __call__(self, task: Any) -> bool:
        try:
            now = _expand(self.config, self.step, _made_before(self.config, self.step))
        except UsageError:
            return False  # a dependency vanished: run, and let the step say what is wrong
        if now == self.files:
            return True
        task.file_dep = set(now)
        return False


def _expand(config: Config, step: Step, made: Sequence[str]) -> list[str]:
    """A step's dependency files; patterns matching nothing must name what `made` holds."""
    patterns = [*step.deps, *([step.script] if step.script else [])]
    files, missing = fsutil.expand(patterns, config.root)
    for pattern in missing:
        fed = [target for target in made if pipeline.feeds(pattern, target)]
        if not fed:
            raise UsageError(
                f"pre-run step '{step.name}': the dependency '{pattern}' matches no file"
            )
        files.extend(t for t in fed if t != pattern and fnmatch.fnmatchcase(t, pattern))
    return sorted(set(files))


def _set_aside_if_damaged(root: Path, err: TextIO) -> None:
    """doit's state is a cache (which steps are up to date): one it cannot read would
    stop every run with doit's traceback. It is moved aside, kept, and the pre-run
    steps run again."""
    path = root / DOIT_DB
    try:
        connection = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return  # missing: doit makes it
    try:
        (verdict,) = connection.execute("PRAGMA quick_check(1)").fetchone()
        if verdict == "ok":
            return
        problem = str(verdict)
    except sqlite3.Error as e:
        problem = str(e)
    finally:
        connection.close()
    aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}")
    try:
        path.rename(aside)
    except OSError:
        return  # gone meanwhile, or not ours to move: doit says what it finds
    for extra in ("-journal", "-wal", "-shm"):  # a journal belongs to the damaged file
        with contextlib.suppress(OSError):
            path.with_name(path.name + extra).rename(aside.with_name(aside.name + extra))
    write_line(
        err,
        style(
            f"expman: warning: {DOIT_DB} cannot be read ({problem}): moved to "
            f"{STATE_DIR}/{aside.name}; the pre-run steps run again",
            "yellow",
            err,
        ),
    )


# doit's table, as its sqlite3 back end makes it (`SqliteDB._sqlite3`; pinned below 0.39).
_STATE_TABLE = """
            create table if not exists doit (
                task_id text not null primary key,
                task_data json
            );"""


def _make_state(root: Path) -> None:
    """doit's state file, empty, made without syncing it where there is none yet.

    doit makes it with a synced commit, which every sweep point paid (its workspace is
    new): 2 to 17 ms, most of doit's own time in a point. The state is a cache that
    `_persist_state` writes unsynced anyway, and one that a crash leaves unreadable is
    set aside (`_set_aside_if_damaged`). sqlite's own locks keep two runs making it at
    once apart.
    """
    path = root / DOIT_DB
    if path.exists():
        return
    try:
        connection = sqlite3.connect(path, isolation_level=None)
    except sqlite3.Error:
        return  # doit says what it finds
    try:
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute(_STATE_TABLE)
    except sqlite3.Error:
        pass  # likewise
    finally:
        connection.close()


def _persist_state() -> bool:
    """Commit doit's state now, not only when the run ends.

    doit's backends write their state once, when the run ends, so a killed run forgot
    the steps it had finished (shared notes, §10). The sqlite3 backend keeps changed
    rows in `_cache`/`_dirty` until `dump()`, which also closes the connection; this
    writes them and commits, leaving it open. (doit internals: pinned below 0.39.)
    A failed step's state is deleted by doit in a transaction it leaves open: that is
    committed too, and first (a pragma cannot change inside a transaction).
    False when the state could not be written.
    """
    backend = getattr(Globals.dep_manager, "backend", None)
    if not isinstance(backend, SqliteDB):
        return True
    try:
        if not backend._dirty and not backend._conn.in_transaction:
            return True
        backend._conn.commit()
        backend._conn.execute("PRAGMA synchronous=OFF")
        for task_id in backend._dirty:
            encoded = backend.codec.encode(backend._cache[task_id])
            backend._conn.execute("insert or replace into doit values (?,?)", (task_id, encoded))
        backend._conn.commit()
        return True
    except sqlite3.Error:
        # The state file went away under the run (`rm -rf .expman`): the run itself goes
        # on and is recorded; its steps are simply not remembered as done.
        return False
    finally:
        backend._dirty = set()  # doit's own final write must not fail the same way


def deps(config: Config) -> dict[str, list[str]]:
    """Each pre-run step's dependencies expanded into files (its script included).

    A pattern that matches nothing is an error, unless an earlier step makes what it
    names; a glob naming such a target file gets it, so that doit orders and checks it.
    """
    return {
        step.task_name: _expand(config, step, _made_before(config, step))
        for step in config.steps_of("pre-run")
    }


def _made_before(config: Config, step: Step) -> list[str]:
    """The targets of the pre-run steps before `step`."""
    made: list[str] = []
    for earlier in config.steps_of("pre-run"):
        if earlier == step:
            break
        made.extend(earlier.targets)
    return made


_CREATOR = "task_expman"  # the one task creator of a namespace


def namespace(config: Config, session: Session, only: str | None = None) -> dict[str, Any]:
    """The doit namespace of an experiment: DOIT_CONFIG and one task creator."""
    (config.root / STATE_DIR).mkdir(exist_ok=True)  # doit opens its state file there
    _set_aside_if_damaged(config.root, session.err)
    _make_state(config.root)
    expanded = deps(config)
    tasks = pipeline.tasks(config, expanded, session, only)
    fed_by = pipeline.upstream(config)
    for task in tasks:
        name = pipeline.task_name(task)
        if fed_by.get(name):
            # An earlier step of this run makes some of its dependencies: the files a
            # folder or glob names are known only once that step has run, so compare
            # them again when doit checks this step.
            step = next(s for s in config.steps if s.task_name == name)
            task["uptodate"].append(_SameFiles(config, step, expanded[name]))

    def task_expman() -> Any:
        yield from tasks

    reporter = _Reporter(session, session.err)
    return {"DOIT_CONFIG": pipeline.doit_config(config, reporter), _CREATOR: task_expman}


def run(session: Session, only: str | None, force: bool) -> int:
    """Run the stages of `session.config`; doit's exit code (0 ok, 1/2 failed, 3 bug)."""
    names = pipeline.selection(session.config, only)
    args = ["run", *(["--always-execute"] if force else []), *names]
    here = Path.cwd()
    os.chdir(session.config.root)  # doit resolves dependencies and its state file from here
    try:
        loader = _Loader(namespace(session.config, session, only))
        with _own_parts():
            code: int = DoitMain(loader, config_filenames=()).run(args)
    finally:
        os.chdir(here)
    session.raise_error()
    return code


def doit(config: Config, session: Session, args: Sequence[str]) -> int:
    """`expman doit ARGS`: any doit command (list, info, forget, ...) on the stage graph."""
    main = _Doit(_Loader(namespace(config, session)), config_filenames=())
    main.BIN_NAME = "expman doit"  # doit's hints ("Type ... list") name the right command
    with _own_parts():
        code: int = main.run(list(args))
    # doit says 3 both for a command line it refuses (an unknown task: bad input, 2) and
    # for its own crash.
    if code == 3 and not main.crashed:
        return EXIT_USAGE
    return code


_REFUSED = (CmdParseError, InvalidCommand, InvalidDodoFile, InvalidTask)  # doit's "user errors"


class _Doit(DoitMain):  # type: ignore[misc]
    """doit's command line, noting whether a command crashed rather than refused its input.

    `DoitMain.run` answers both with 3; the exception's type, seen on its way out of the
    command, tells them apart.
    """

    crashed = False

    def get_cmds(self) -> Any:
        commands = super().get_cmds()
        plugin = commands.get_plugin
        commands.get_plugin = lambda name: self._noting_crashes(plugin(name))
        return commands

    def _noting_crashes(self, command: type[Any]) -> type[Any]:
        main = self

        class Noted(command):  # type: ignore[misc]
            def parse_execute(self, args: list[str]) -> Any:
                try:
                    return super().parse_execute(args)
                except _REFUSED:
                    raise
                except Exception:
                    main.crashed = True
                    raise

        Noted.__name__ = command.__name__
        return Noted


class StepStatus(NamedTuple):
    """Whether a pre-run step would run now, and why."""

    step: Step
    would_run: bool
    reasons: tuple[str, ...]


def status(config: Config, session: Session) -> list[StepStatus]:
    """For each pre-run step: would `expman run` execute it, and why. Runs nothing."""
    tasks = _tasks(namespace(config, session))
    by_name = {task.name: task for task in tasks}
    dependency = Dependency(SqliteDB, str(config.root / DOIT_DB))
    fed_by = pipeline.upstream(config)
    try:
        result: list[StepStatus] = []
        for step in config.steps_of("pre-run"):
            task = by_name[step.task_name]
            saved = dependency.get_values(task.name)
            found = dependency.get_status(task, by_name, get_log=True)
            reasons = list(_reasons(found.reasons, saved))
            would_run = found.status != "up-to-date"
            feeding = [
                s.step.task_name
                for s in result
                if s.would_run and s.step.task_name in fed_by[step.task_name]
            ]
            if feeding:
                would_run = True
                reasons.append(f"it takes what {', '.join(feeding)} makes")
            result.append(StepStatus(step, would_run, tuple(reasons)))
        return result
    finally:
        dependency.close()


def _reasons(found: Mapping[str, Any], saved: Mapping[str, Any]) -> tuple[str, ...]:
    if pipeline.DEFINITION_KEY not in saved:
        return ("it has not run successfully yet",)
    said = []
    if found.get("uptodate_false"):
        said.append("its command or environment changed")
    for target in found.get("missing_target", []):
        said.append(f"target {target} is missing")
    for key, verb in (("added_file_dep", "added"), ("removed_file_dep", "removed")):
        if found.get(key):
            said.append(f"dependencies {verb}: {_some(found[key])}")
    if found.get("missing_file_dep"):
        said.append(f"dependencies missing: {_some(found['missing_file_dep'])}")
    if found.get("changed_file_dep"):
        said.append(f"changed: {_some(found['changed_file_dep'])}")
    return tuple(said)


def _some(names: Sequence[str], shown: int = 3) -> str:
    text = ", ".join(names[:shown])
    return text + (f" and {len(names) - shown} more" if len(names) > shown else "")


def dodo_namespace(dodo_file: str) -> dict[str, Any]:
    """What the `dodo.py` shim of an experiment puts in its globals: `doit` runs the stages
    exactly as `expman run` does. An invalid expfile stops doit with expman's message."""
    root = Path(dodo_file).resolve().parent
    try:
        config = loading.load(root / location.EXPFILE, location.EXPFILE, cache=State(root))
        return namespace(config, Session(config, (sys.stdout, sys.stderr)))
    except ExpmanError as e:
        sys.stderr.write(printable(str(e)) + "\n")
        raise SystemExit(e.exit_code) from None

"""A run in a workspace, from its opening to its end: what `rerun` and a sweep's point
(and any other command that runs the experiment somewhere else) go through.

The workspace's expfile is loaded and pointed at the archive; a new record is made and
opened under the workspace's lock; the stages run as attempts (a failed one tried again
as a new attempt of the same run, `retries` times), and the run is ended whatever
happens, interrupted included. SIGTERM and SIGINT wait while the run is made and opened
and while it is ended: a stop never leaves a run made but not opened, or half ended.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from expman import processes
from expman.errors import UsageError
from expman.expfile import loading, location
from expman.expfile.loading import ValidationCache
from expman.expfile.model import Config
from expman.processes import signals_held
from expman.running import ending, engine, execute, workspace
from expman.running.openrun import mark_open
from expman.running.session import Session
from expman.running.state import State
from expman.running.workspace import Workspace
from expman.store import record
from expman.store.archive import Archive

Hook = Callable[[record.Record], None]


def _nothing(run: record.Record) -> None:
    """What a caller does not need to do once a run is opened or ended."""


def ready_to_fork(root: Path) -> None:
    """Ask, once, in a process that is about to fork runs in workspaces of the experiment
    at `root` (a sweep's points), what each of them would otherwise ask again: the top of
    the repository (a git process) and whether `setpriv` can set a step's death signal
    (two processes); and load ctypes, which names each point's process. A question that
    fails here is asked again by each, which then says
    what is wrong."""
    with contextlib.suppress(UsageError):
        workspace.toplevel(root)
    execute.death_signal_setter()
    processes.ready_to_name()


def run_in_workspace(
    made: Workspace,
    archive: Archive,
    *,
    expfile_label: str,
    overrides: Sequence[str] = (),
    cache: ValidationCache | None = None,
    hypothesis: str | None,
    fields: record.Given,
    lock_holder: str,
    force: bool,
    retries: int = 0,
    observations: str = "",
    streams: tuple[TextIO, TextIO],
    on_opened: Hook = _nothing,
    on_ending: Hook = _nothing,
    on_ended: Hook = _nothing,
) -> tuple[int, record.Record]:
    """Open a new run of `archive` in the workspace `made` and run it to its end; doit's
    exit code of its last attempt and its ended record.

    `expfile_label` names the workspace's expfile in messages, `overrides` (`NAME=VALUE`)
    apply to it; the record carries `hypothesis` and `fields` (`rerun_of`, `sweep`,
    `start_overrides`); `lock_holder` names the holder of the workspace's lock; `force`
    runs steps that are up to date; `observations` are the ended run's. `on_opened(run)`
    is called under the lock once the run is opened, `on_ending(run)` to add to the record
    in the write that ends the run (not when an earlier process ended it), `on_ended(run)`
    once it has ended, all with signals held. Interrupted, the run is ended as such,
    then the interrupt goes on.
    """
    inside = made.inside
    config = loading.load(inside / location.EXPFILE, expfile_label, overrides, cache=cache)
    config = dataclasses.replace(config, archive=str(archive.root.resolve()))
    state = State(inside)
    run: record.Record = {**record.new(config, hypothesis), **fields}
    made_run = False
    code = 0
    try:
        # Inside the `try`: a stop held back while the run was made and opened arrives as
        # the block ends, and the `finally` must end that run.
        with signals_held(), state.lock(lock_holder):
            archive.create(run)
            made_run = True
            mark_open(inside, state, archive, config.archive, run)
            on_opened(run)
        for _ in range(retries + 1):
            code = _attempt(config, streams, made, force)
            if code == 0:
                break
    finally:  # interrupted too: the run is ended, with that status, whatever comes now
        if made_run:  # else stopped before the run was made: nothing to end
            with signals_held():
                ended = ending.close_workspace_run(made.inside, observations, streams[1], on_ending)
                on_ended(ended)
    return code, ended


def _attempt(config: Config, streams: tuple[TextIO, TextIO], made: Workspace, force: bool) -> int:
    """One attempt of the open run; doit's exit code."""
    session = Session(config, streams, made)
    session.acquire()
    try:
        return engine.run(session, None, force=force)
    finally:
        session.release()

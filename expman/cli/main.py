"""The `expman` command line: argument parsing, dispatch, and the one error boundary.

Every command module returns an exit code; this module alone turns exceptions into
messages on stderr and exit codes (see `errors`).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from expman.cli import arguments, locate
from expman.cli import readers as cli_readers
from expman.cli.examples import EXAMPLES
from expman.errors import EXIT_INTERRUPTED, ConfigError, UsageError
from expman.output import (
    ensure_standard_streams,
    printable,
    silence,
    style,
    write_error,
    write_line,
)
from expman.processes import sigterm_as_interrupt

if TYPE_CHECKING:
    from expman.sweeps.search_definition import Asked


# The module of each command's code, imported before the command runs (`entry`); a
# command missing here is imported as it runs, with the collector awake.
_MODULES = {
    **{name: f"expman.cli.commands.{name}" for name in EXAMPLES},
    "note": "expman.cli.commands.annotate",
    "tag": "expman.cli.commands.annotate",
    "push": "expman.cli.commands.share",
    "pull": "expman.cli.commands.share",
    "cancel": "expman.cli.commands.slurm",
}


def entry(argv: Sequence[str] | None = None) -> int:
    """The `expman` program: `main` in a process of its own.

    A command's start makes some 100,000 objects that live as long as it does (its
    modules, doit's), which the cyclic garbage collector walked again and again while
    they were imported, and once more as the interpreter shut down: 15 to 25 ms of `run`
    and of `end` (docs/performance.md). Here the collector sleeps until the command's
    modules are imported, is then told they are permanent (`gc.freeze`) and wakes for
    the command's work; what is left at exit is frozen too, and freed without being
    walked. `main` called in another program's process leaves its collector alone.
    """
    gc.disable()
    try:
        return main(argv, own_process=True)
    finally:
        gc.freeze()


def main(argv: Sequence[str] | None = None, own_process: bool = False) -> int:
    """Run the command line and return its exit code."""
    ensure_standard_streams()
    out, err = sys.stdout, sys.stderr
    try:
        try:
            args = arguments.parse(list(sys.argv[1:] if argv is None else argv))
        except SystemExit as e:  # --help and --version
            return e.code if isinstance(e.code, int) else 0
        return _dispatch(args, out, err, own_process)
    except ConfigError as e:  # messages may quote a file or a record: shown escaped
        write_line(err, printable(str(e)))
        return e.exit_code
    except KeyboardInterrupt:
        write_line(err, "expman: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        silence(out)  # the reader of the output went away (`| head`): nothing is wrong
        return 0
    except Exception as e:  # an `ExpmanError`, or a bug
        return write_error(err, e)


def _imported(args: argparse.Namespace) -> None:
    """Import the command's module with the collector asleep, then wake it (see `entry`)."""
    module = _MODULES.get(args.command)
    if args.command == "sweep" and args.words[:1] == ["status"]:
        module = "expman.cli.commands.sweep_status"  # not the whole sweep machinery
    try:
        if module is not None:
            importlib.import_module(module)
    finally:
        gc.freeze()
        gc.enable()


def _dispatch(args: argparse.Namespace, out: TextIO, err: TextIO, own_process: bool = False) -> int:
    start = _start_dir(args.chdir)
    commands: dict[str, Callable[[], int]] = {
        "init": lambda: _init(args, start, out),
        "validate": lambda: _validate(args, start, out),
        "schema": lambda: _schema(args, out),
        "start": lambda: _start(args, start, out, err),
        "run": lambda: _run(args, start, out, err),
        "status": lambda: _status(args, start, out, err),
        "sweep": lambda: _sweep(args, start, out, err),
        "end": lambda: _end(args, start, out, err),
        "doit": lambda: _doit(args, start, out, err),
        "query": lambda: cli_readers.query(args, start, out, err),
        "list": lambda: cli_readers.list(args, start, out, err),
        "show": lambda: cli_readers.show(args, start, out),
        "diff": lambda: cli_readers.diff(args, start, out),
        "logs": lambda: cli_readers.logs(args, start, out),
        "watch": lambda: cli_readers.watch(args, start, out),
        "report": lambda: cli_readers.report(args, start, out),
        "cancel": lambda: cli_readers.cancel(args, start, out),
        "note": lambda: _note(args, start, out),
        "tag": lambda: _tag(args, start, out),
        "rm": lambda: _rm(args, start, out),
        "gc": lambda: _gc(args, start, out),
        "rerun": lambda: _rerun(args, start, out, err),
        "push": lambda: _push(args, start, out, err),
        "pull": lambda: _pull(args, start, out, err),
        "fsck": lambda: _fsck(args, start, out),
    }
    with _sigterm_as_interrupt():
        if own_process:
            _imported(args)
        return commands[args.command]()


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (kill, a batch system's time limit) ends a command as Ctrl-C does: the
    running stage is stopped and the record says `interrupted`."""

    try:
        previous = sigterm_as_interrupt()
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _start_dir(chdir: str | None) -> Path:
    if chdir is None:
        return Path.cwd()
    path = Path(chdir)
    if not path.is_dir():
        raise UsageError(f"-C {chdir}: no such directory")
    return path.resolve()


def _init(args: argparse.Namespace, start: Path, out: TextIO) -> int:
    from expman.cli.commands.init import init

    return init(directory=start / args.directory, name=args.name, force=args.force, out=out)


def _validate(args: argparse.Namespace, start: Path, out: TextIO) -> int:
    from expman.cli.commands.validate import validate
    from expman.expfile import location

    path = start / args.file if args.file else location.find(start)
    return validate(path=path, display=locate.display(path), out=out)


def _schema(args: argparse.Namespace, out: TextIO) -> int:
    from expman.cli.commands.schema import schema

    return schema(path_only=args.path, as_markdown=args.markdown, of_record=args.record, out=out)


def _start(args: argparse.Namespace, start: Path, out: TextIO, err: TextIO) -> int:
    from expman.cli.commands.start import start as start_run

    path, display = locate.experiment(start)
    _warn_read_away(args.overrides, err)
    return start_run(
        path=path, display=display, hypothesis=args.message, overrides=args.overrides, out=out
    )


def _warn_read_away(overrides: list[str], err: TextIO) -> None:
    from expman.cli import hints

    for warning in hints.leading_zeros(overrides):
        write_line(err, style(printable(f"expman: warning: {warning}"), "yellow", err))


def _run(args: argparse.Namespace, start: Path, out: TextIO, err: TextIO) -> int:
    from expman.cli.commands.run import run

    path, display = locate.experiment(start)
    _warn_read_away(args.overrides, err)
    if args.on == "slurm" or args.slurm:
        from expman.cli.commands.slurm import run_on_slurm

        if args.on != "slurm":
            raise UsageError("--slurm KEY=VALUE: only with --on slurm")
        passed = [w for o in args.overrides for w in ("-s", o)] + ["--force"] * args.force
        passed += ["--only", args.only] if args.only else []
        return run_on_slurm(
            path=path,
            display=display,
            overrides=args.overrides,
            passed=passed,
            slurm=args.slurm,
            out=out,
        )
    return run(
        path=path,
        display=display,
        overrides=args.overrides,
        force=args.force,
        only=args.only,
        streams=(out, err),
    )


def _status(args: argparse.Namespace, start: Path, out: TextIO, err: TextIO) -> int:
    from expman.cli.commands.status import status

    path, display = locate.experiment(start)
    return status(path=path, display=display, out=out, err=err)


def _end(args: argparse.Namespace, start: Path, out: TextIO, err: TextIO) -> int:
    from expman.cli.commands.end import end

    path, display = locate.experiment(start)
    return end(
        path=path, display=display, message=args.message, sweep=args.sweep, streams=(out, err)
    )


def _doit(args: argparse.Namespace, start: Path, out: TextIO, err: TextIO) -> int:
    from expman.cli.commands.doit import doit

    path, display = locate.experiment(start)
    return doit(path=path, display=display, args=args.args, streams=(out, err))


def _note(args: argparse.Namespace, start: Path, out: TextIO) -> int:
    from expman.cli.commands.annotate import note

    return note(archive=locate.archive(args, start), names=args.runs, text=args.message, out=out)


def _tag(args: argparse.Namespace, start: Path, out: TextIO) -> int:
    from expman.cli.commands.annotate import tag

    if not args.runs:
        raise UsageError("name the runs to tag: expman tag RUN... +TAG -TAG")
    return tag(archive=locate.archive(args, start), names=args.runs, changes=args.changes, out=out)


def _rm(args: argparse.Namespace, start: Path, out: TextIO) -> int:
    from expman.cli.commands.rm import rm

    return rm(
        archive=locate.archive(args, start),
        names=args.runs,
        list_removed=args.list_removed,
        restore=args.restore,
        purge=args.purge,
        yes=args.yes,
        out=out,
    )


def _gc(args: argparse.Namespace, start: Path, out: TextIO) -> int:
    from expman.cli.commands.gc import gc

    archive = locate.archive(args, start)
    root = None if args.archive else locate.experiment_root(start)
    return gc(archive=archive, out=out, root=root)


def _fsck(args: argparse.Namespace, start: Path, out: TextIO) -> int:
    from expman.cli.commands.fsck import fsck

    return fsck(archive=locate.archive(args, start), repair=args.repair, out=out)


def _push(args: argparse.Namespace, start: Path, out: TextIO, err: TextIO) -> int:
    from expman.cli.commands.share import push

    destination = (start / args.destination).resolve()
    return push(archive=locate.archive(args, start), destination=destination, streams=(out, err))


def _pull(args: argparse.Namespace, start: Path, out: TextIO, err: TextIO) -> int:
    from expman.cli.commands.share import pull

    source = (start / args.source).resolve()
    return pull(archive=locate.archive(args, start), source=source, streams=(out, err))


def _rerun(args: argparse.Namespace, start: Path, out: TextIO, err: TextIO) -> int:
    from expman.cli.commands.rerun import rerun
    from expman.expfile import location

    path, _ = locate.experiment(start)

    archive = path.parent / location.archive_setting(path)
    return rerun(
        root=path.parent, archive=archive, name=args.run, check=args.check, streams=(out, err)
    )


def _sweep(args: argparse.Namespace, start: Path, out: TextIO, err: TextIO) -> int:
    path, display = locate.experiment(start)
    if args.words[:1] == ["status"]:
        from expman.cli.commands.sweep_status import sweep_status

        if len(args.words) > 2:
            raise UsageError("expman sweep status [SWEEP]: one sweep at a time")
        return sweep_status(path=path, name=args.words[1] if len(args.words) > 1 else None, out=out)
    if len(args.words) > 1:
        raise UsageError("expman sweep [NAME]: one named sweep at a time")
    from expman.cli.commands.sweep import Options, sweep

    if args.gpus_per_run is not None and args.gpus is None:  # it would be taken, and mean nothing
        raise UsageError(
            f"--gpus-per-run {args.gpus_per_run}: without --gpus (the devices to share out)"
        )
    gpus_per_run = 1 if args.gpus_per_run is None else args.gpus_per_run
    for name, value in (("--jobs", args.jobs), ("--gpus-per-run", gpus_per_run)):
        if value < 1:
            raise UsageError(f"{name}: expected a number, 1 or more")
    if args.retries < 0 or (args.random is not None and args.random < 1):
        raise UsageError("--retries and --random take a number, 0 or more and 1 or more")
    gpus: tuple[str, ...] = args.gpus or ()
    searched = _searched(args)
    if args.gpus is not None and len(gpus) < gpus_per_run:
        raise UsageError(f"--gpus {','.join(gpus)}: fewer than --gpus-per-run {gpus_per_run}")
    options = Options(
        jobs=args.jobs,
        gpus=gpus,
        gpus_per_run=gpus_per_run,
        retries=args.retries,
        fail_fast=args.fail_fast,
        on=args.on,
        slurm=tuple(args.slurm),
    )
    return sweep(
        path=path,
        display=display,
        name=args.words[0] if args.words else None,
        hypothesis=args.message,
        specs=args.specs,
        samples=args.random,
        seed=args.seed,
        points_file=start / args.points if args.points else None,
        only_plan=args.plan,
        resume=args.resume,
        options=options,
        streams=(out, err),
        searched=searched,
        trials=args.trials if args.resume else None,
    )


def _searched(args: argparse.Namespace) -> Asked:
    """What the command line says of an adaptive search (`--trials` of a resume raises
    its budget: not a search of its own)."""
    from expman.sweeps.search_definition import Asked

    if args.resume:
        if args.search or args.objective or args.direction or args.prune or args.prune_metric:
            raise UsageError("--resume continues the sweep's search: give only --trials")
        return Asked()
    return Asked(
        args.search,
        args.trials,
        tuple(args.objective),
        tuple(args.direction),
        args.prune,
        args.prune_metric,
    )

"""The command-line glue of the commands that read the archive: query, list, show, diff,
logs, report, watch, cancel (each parses nothing; `arguments` did)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from expman.cli.locate import archive as _archive
from expman.cli.locate import experiment_root as _experiment_root
from expman.errors import UsageError
from expman.expfile import location


def query(args: argparse.Namespace, start: Path, out: TextIO, err: TextIO) -> int:
    from expman.cli.commands.query import query

    archive = _archive(args, start)
    return query(archive=archive, expression=args.expression, fmt=args.format, streams=(out, err))


def list(args: argparse.Namespace, start: Path, out: TextIO, err: TextIO) -> int:
    from expman.cli.commands.list import list_runs

    if args.limit is not None and args.limit < 0:
        raise UsageError("--limit: expected a number of rows, 0 or more")
    return list_runs(
        archive=_archive(args, start),
        where=args.where,
        sort=args.sort,
        reverse=args.reverse,
        limit=args.limit,
        fmt=args.format,
        streams=(out, err),
        columns=args.columns,
        tags=args.tags,
    )


def show(args: argparse.Namespace, start: Path, out: TextIO) -> int:
    from expman.cli.commands.show import show

    return show(archive=_archive(args, start), name=args.run, as_json=args.json, out=out)


def diff(args: argparse.Namespace, start: Path, out: TextIO) -> int:
    from expman.cli.commands.diff import diff

    return diff(archive=_archive(args, start), names=(args.runs[0], args.runs[1]), out=out)


def logs(args: argparse.Namespace, start: Path, out: TextIO) -> int:
    from expman.cli.commands.logs import logs

    archive = _archive(args, start)
    return logs(archive=archive, name=args.run, step=args.step, follow=args.follow, out=out)


def report(args: argparse.Namespace, start: Path, out: TextIO) -> int:
    from expman.cli.commands.report import report

    period(args.every)
    archive = _archive(args, start)
    if args.output is not None:
        output = start / args.output
    elif args.archive:
        output = start / location.REPORT
    else:
        output = _experiment_root(start) / location.REPORT
    if output.is_dir():
        raise UsageError(f"-o {args.output}: is a folder; name the report's file")
    if not output.parent.is_dir():
        raise UsageError(f"-o {args.output}: no folder {output.parent}")
    return report(
        archive=archive,
        output=output,
        where=args.where,
        watch=args.watch,
        every=args.every,
        out=out,
    )


def cancel(args: argparse.Namespace, start: Path, out: TextIO) -> int:
    from expman.cli.commands.slurm import cancel

    return cancel(archive=_archive(args, start), target=args.target, out=out)


def period(every: float) -> None:
    if not 0 < every <= 3600:
        raise UsageError("--every: expected a number of seconds, above 0 and at most 3600")


def watch(args: argparse.Namespace, start: Path, out: TextIO) -> int:
    from expman.cli.commands.watch import watch
    from expman.store.archive import Archive

    period(args.every)
    archive = Archive(_archive(args, start))
    return watch(archive=archive, sweep=args.sweep, once=args.once, every=args.every, out=out)

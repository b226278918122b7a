"""Where a command acts: the experiment (found from the working folder) and its archive."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from expman.errors import UsageError


def display(path: Path) -> str:
    """A path as the user would type it from where they are."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive, on Windows
        return str(path)


def experiment(start: Path) -> tuple[Path, str]:
    """The experiment's expfile, and its name as the user would type it; from here on the
    working folder is the experiment's, where doit resolves its paths."""
    from expman.expfile import location

    path = location.find(start).resolve()
    shown = display(path)
    os.chdir(path.parent)
    return path, shown


def experiment_root(start: Path) -> Path:
    """The experiment's folder (where its expfile is)."""
    from expman.expfile import location

    return location.find(start).resolve().parent


def archive(args: argparse.Namespace, start: Path) -> Path:
    """The archive to read: --archive, or the one the experiment's expfile names."""
    if args.archive:
        folder: Path = (start / args.archive).resolve()
        if not folder.is_dir():
            raise UsageError(f"--archive {args.archive}: no such folder")
        return folder
    from expman.expfile import location
    from expman.running.openrun import repair_if_idle
    from expman.slurm.track import reconcile
    from expman.store.archive import Archive

    path, _ = experiment(start)  # read leniently: the expfile may be half-edited
    repair_if_idle(path.parent)  # a run whose runner died is shown as interrupted
    found = path.parent / location.archive_setting(path)
    reconcile(Archive(found))  # and so is one whose Slurm job is gone
    return found

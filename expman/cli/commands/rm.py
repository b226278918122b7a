"""`expman rm`: remove runs (reversibly), list the removed ones, restore or purge them."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from expman import formats
from expman.errors import UsageError
from expman.output import write_line
from expman.store import trash
from expman.store.archive import Archive


def rm(
    *,
    archive: Path,
    names: Sequence[str],
    list_removed: bool,
    restore: bool,
    purge: bool,
    out: TextIO,
    yes: bool = False,
) -> int:
    """Move the named runs aside; or list, restore or purge removed runs (purging all of
    them, or runs not removed first, asks on a terminal and needs `yes` elsewhere)."""
    store = Archive(archive)
    if list_removed:
        rows = [
            [r["id"], str(r["record"].get("status", "?")), str(r["record"].get("hypothesis") or "")]
            for r in trash.removed(store)
        ]
        out.write(formats.table(["id", "status", "hypothesis"], rows) if rows else "")
        return 0
    if restore:
        for name in names:
            trash.restore(store, name)
            write_line(out, f"restored run {int(name):04d}")
        return 0
    if purge:
        return _purge(store, names, yes, out)
    if not names:
        raise UsageError("name the runs to remove: expman rm RUN...")
    run_ids = [store.resolve(name) for name in names]  # all known before any is moved
    for run_id in run_ids:
        trash.remove(store, run_id)
        write_line(out, f"removed run {run_id} (`expman rm --restore {int(run_id)}` undoes it)")
    return 0


def _purge(store: Archive, names: Sequence[str], yes: bool, out: TextIO) -> int:
    """Delete the named runs for good (removing first those that are not), or every
    removed run; what goes beyond the runs named as removed is asked, or needs `yes`."""
    removed = sorted({entry["id"] for entry in trash.removed(store)})
    if not names:
        if not removed:
            write_line(out, "no removed run to purge")
            return 0
        what = f"{len(removed)} removed {_runs(removed)} ({', '.join(removed)})"
        them = "them" if len(removed) > 1 else "it"
        refusal = f"{what} would be deleted for good: add --yes to purge {them} without asking"
        return _purged(store, removed, _ask(f"purge {what} for good?", yes, refusal, out), out)
    ids = [_removed_id(name, removed) or store.resolve(name) for name in names]
    live = [run_id for run_id in ids if run_id not in removed]
    if live:
        runs, them = f"{_runs(live)} {', '.join(live)}", "them" if len(live) > 1 else "it"
        state = f"{runs} {'are' if len(live) > 1 else 'is'} not removed"
        question = f"{state}: remove and purge {them} for good?"
        refusal = (
            f"{state}: add --yes to remove and purge {them} for good (or `expman rm` {them} first)"
        )
        if not _ask(question, yes, refusal, out):
            return _purged(store, [], False, out)
        for run_id in live:
            trash.remove(store, run_id)
    return _purged(store, ids, True, out)


def _runs(ids: list[str]) -> str:
    return "runs" if len(ids) > 1 else "run"


def _removed_id(name: str, removed: list[str]) -> str | None:
    """The id of a removed run `name` names (`7`, `0007`); None for any other name."""
    if name.isdigit() and f"{int(name):04d}" in removed:
        return f"{int(name):04d}"
    return None


def _purged(store: Archive, ids: list[str], agreed: bool, out: TextIO) -> int:
    if not agreed:
        write_line(out, "nothing purged")
        return 0
    purged = trash.purge(store, ids)
    write_line(out, f"purged {len(purged)} run(s): `expman gc` frees their files")
    return 0


def _ask(question: str, yes: bool, refusal: str, out: TextIO) -> bool:
    """True with `yes`; on a terminal, the person's answer; elsewhere `refusal` is raised:
    a script deletes for good only when told so."""
    if yes:
        return True
    if not (sys.stdin.isatty() and getattr(out, "isatty", bool)()):
        raise UsageError(f"rm --purge: {refusal}")
    out.write(f"{question} [y/N] ")
    out.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")

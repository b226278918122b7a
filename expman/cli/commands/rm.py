"""`expman rm`: remove runs (reversibly), list the removed ones, restore or purge them."""

from __future__ import annotations

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
) -> int:
    """Move the named runs aside; or list, restore or purge removed runs."""
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
        purged = trash.purge(store, list(names) or None)
        write_line(out, f"purged {len(purged)} removed run(s): `expman gc` frees their files")
        return 0
    if not names:
        raise UsageError("name the runs to remove: expman rm RUN...")
    run_ids = [store.resolve(name) for name in names]  # all known before any is moved
    for run_id in run_ids:
        trash.remove(store, run_id)
        write_line(out, f"removed run {run_id} (`expman rm --restore {int(run_id)}` undoes it)")
    return 0

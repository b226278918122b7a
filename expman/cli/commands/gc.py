"""`expman gc`: free the store objects that no run uses any more."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from expman.output import write_line
from expman.store import collect
from expman.store.archive import Archive


def gc(*, archive: Path, out: TextIO, root: Path | None = None) -> int:
    """Free unused objects and report what was freed; in an experiment (`root`), also
    remove the workspaces of sweep points that no process runs any more."""
    if root is not None:
        from expman.sweeps.point import remove_stale_workspaces

        for name in remove_stale_workspaces(root, Archive(archive)):
            write_line(out, f"removed the workspace {name}")
    freed = collect.gc(Archive(archive))
    write_line(
        out,
        f"freed {freed.objects} object(s), {freed.size / 1e6:.1f} MB"
        + (
            f"; removed {freed.partial} partial object(s) of killed writers"
            if freed.partial
            else ""
        ),
    )
    return 0

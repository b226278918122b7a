"""`expman gc`: free the store objects that no run uses any more."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from expman import collect
from expman.archive import Archive
from expman.output import write_line


def gc(*, archive: Path, out: TextIO) -> int:
    """Free unused objects and report what was freed."""
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

"""`expman fsck`: re-hash the store, check every run's files; `--repair` quarantines."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from expman.errors import EXIT_CHECK_DIFFERS
from expman.output import printable, write_line
from expman.store import collect
from expman.store.archive import Archive


def fsck(*, archive: Path, repair: bool, out: TextIO) -> int:
    """0 when all is well; 4 when something is damaged (each problem printed)."""
    report = collect.fsck(Archive(archive), repair)
    for path in report.corrupt:
        moved = " (moved to .objects/.quarantine/)" if repair else ""
        write_line(
            out, printable(f"corrupt object: {path}: its content does not match its name{moved}")
        )
    for missing in report.missing:
        write_line(out, printable(f"missing file: {missing}"))
    for wrong in report.wrong:
        write_line(out, printable(f"wrong content: {wrong}"))
    for damaged in report.damaged:
        write_line(out, printable(f"damaged record: {damaged.reason}"))
    for shared in report.shared_uids:  # push and pull would take them for one run
        write_line(out, printable(f"one uid: {shared}"))
    if report.shared_uids:
        write_line(
            out,
            "  push and pull take runs holding one uid for one run: if one is a copy of the "
            "other, `expman rm --purge ID` removes the copy",
        )
    verdict = "all well" if report.clean else "problems found"
    write_line(out, f"{report.objects} object(s) checked: {verdict}")
    return 0 if report.clean else EXIT_CHECK_DIFFERS

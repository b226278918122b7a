"""`expman rerun RUN [--check]`: run an archived run again from its own snapshot."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from expman.errors import EXIT_CHECK_DIFFERS, EXIT_INTERNAL, EXIT_STAGE_FAILED
from expman.output import printable, style, write_line
from expman.running import rerun as again
from expman.store import environment
from expman.store.archive import Archive
from expman.store.record import FAILED


def rerun(
    *, root: Path, archive: Path, name: str, check: bool, streams: tuple[TextIO, TextIO]
) -> int:
    """0 when it ran (and, with `check`, reproduced the original); 1 when a stage failed;
    4 when `check` found outputs or metrics that differ. With `check` the environment's
    drift (packages, driver, container...) is said first: a reason, not a difference."""
    out, _ = streams
    store = Archive(archive)
    run_id = store.resolve(name)
    code, new = again.rerun(root, store, run_id, streams)
    write_line(out, printable(f"run {new['id']} reran run {run_id}: {new['status']}"))
    if code in (1, 2) or new["status"] == FAILED:  # a stage, or the data check
        return EXIT_STAGE_FAILED
    if code != 0:
        return EXIT_INTERNAL
    if not check:
        return 0
    original = store.read(run_id)
    drift = environment.differences(original, store.run_dir(run_id), new, store.run_dir(new["id"]))
    for line in drift:
        write_line(out, style(printable(f"  environment: {line}"), "yellow", out))
    differences = again.compare(original, new)
    for line in differences:
        write_line(out, style(printable(f"  differs: {line}"), "red", out))
    if differences:
        write_line(out, f"run {new['id']} does not reproduce run {run_id}")
        return EXIT_CHECK_DIFFERS
    write_line(
        out,
        style(f"run {new['id']} reproduces run {run_id}: same outputs, same metrics", "green", out),
    )
    return 0

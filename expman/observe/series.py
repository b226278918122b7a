"""A run's metric series on disk: the file its stages append to while an attempt runs
(`$EXPMAN_METRICS`, `live/series.jsonl` in the run folder), and what is kept of it.

The stages append to `live/series.jsonl` in the run folder, read as it grows by
`observe/seriesreader`. At the attempt's end the bytes read are copied into the store and
shown as `series.jsonl`, with each metric's down-sampled curve as `series.sampled.json`,
and `live/` goes: a process that outlives the attempt finds nothing to append to, and
never the store's object, which another run may share.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from expman.observe.seriesreader import Reader, open_regular
from expman.store.objects import ObjectStore, open_below

FILE = "series.jsonl"  # the archived series in the run folder (and the live file's name)
LIVE = "live"  # the folder of the file the stages append to while an attempt runs
SAMPLED = "series.sampled.json"  # each metric's down-sampled curve, for the report
# Bytes of a sampled file read: far more than the ~2,000 points of each of `MAX_SERIES`
# metrics (and the runner's own) take; a larger one is no file expman wrote, and not read.
MAX_SAMPLED = 256 << 20


def stream(run_dir: Path) -> Path:
    """The file the stages of the attempt in progress append to: `$EXPMAN_METRICS`."""
    return run_dir / LIVE / FILE


def begin(run_dir: Path) -> None:
    """A new, empty live file for a new attempt (what an earlier one left goes)."""
    discard(run_dir)
    (run_dir / LIVE).mkdir(exist_ok=True)
    stream(run_dir).touch()


def discard(run_dir: Path) -> None:
    """The live folder goes, once its series is stored: never following a link put in
    its place, and never raising (what cannot be removed stays)."""
    live = run_dir / LIVE
    with contextlib.suppress(OSError):
        if live.is_symlink() or not live.is_dir():
            live.unlink(missing_ok=True)
        else:
            shutil.rmtree(live)


def read_sampled(run_dir: Path) -> Any:
    """The JSON value of a run's `series.sampled.json`, read never through a link, nor
    from a pipe, nor past `MAX_SAMPLED` bytes; None when there is none to read."""
    try:
        with os.fdopen(open_below(run_dir, SAMPLED), "rb") as f:
            if os.fstat(f.fileno()).st_size > MAX_SAMPLED:
                return None
            return json.loads(f.read(MAX_SAMPLED + 1))
    except (OSError, ValueError, RecursionError):
        return None


def keep(reader: Reader, run_dir: Path, store: ObjectStore) -> str | None:
    """Read the rest of the attempt's series (its writers are gone), copy what was read
    into the store as `series.jsonl` of the run folder, and its sampled curves beside it.
    Returns what went wrong, for `series_error`. Never raises: a stage's series must
    never keep its run from ending (a file that cannot be stored is said, and stays)."""
    try:
        reader.poll(complete=True)
        with store.writing():
            _keep(reader, run_dir, store)
    except OSError as e:
        reader.note(f"not stored: {e.strerror or e}")
    except Exception as e:  # a bug here must not leave the run `running` for good
        reader.note(f"not stored: internal error: {type(e).__name__}: {e}")
    problem = reader.problem()
    return f"{FILE}: {problem}" if problem else None


def _keep(reader: Reader, run_dir: Path, store: ObjectStore) -> None:
    if reader.offset and reader.readable:
        fd = open_regular(reader.path)
        try:
            _show(store, store.add_prefix(fd, reader.offset), run_dir / FILE)
        finally:
            os.close(fd)
    curves = reader.sampled()
    if curves:
        text = json.dumps(curves, sort_keys=True, separators=(",", ":"), allow_nan=False)
        _show(store, store.add_bytes(text.encode()), run_dir / SAMPLED)


def _show(store: ObjectStore, digest: str, path: Path) -> None:
    """`path` becomes the object, replaced in one step: never missing on the way."""
    linked = path.with_name(path.name + ".kept")
    linked.unlink(missing_ok=True)
    store.link(digest, linked)
    linked.replace(path)

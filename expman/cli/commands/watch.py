"""`expman watch [--sweep S] [--once]`: the runs in flight, live.

On a terminal, a block redrawn in place every `--every` seconds: one line per run in
flight (id, state, step, elapsed, the latest metric values with a small trend), and a
line above it when a run leaves flight (with its final status). In a pipe, plain lines:
a run's line when it changed, and the final ones. `--once` prints the runs once. Without
`--once`, watching ends when nothing has been in flight for two refreshes (for a sweep:
no point in flight or held by a live runner).
"""

from __future__ import annotations

import re
import shutil
import time
from typing import TextIO

from expman import formats
from expman.errors import ArchiveError
from expman.observe import heartbeat
from expman.observe.inflight import Flight, in_flight
from expman.output import printable, style, use_color, write_line
from expman.slurm.track import reconcile
from expman.store import index, record
from expman.store.archive import Archive
from expman.sweeps.store import Sweeps

BARS = "▁▂▃▄▅▆▇█"
RECONCILE_SECONDS = 10.0
_CODE = re.compile(r"\x1b\[[0-9;]*m")
_STATE_COLOURS = {"running": "green", "stale": "red", "started": "yellow", "queued": "yellow"}


def watch(*, archive: Archive, sweep: str | None, once: bool, every: float, out: TextIO) -> int:
    """Show the runs in flight until none is left (or once); exit 0."""
    sweeps = Sweeps(archive)
    sweep_id = sweeps.resolve(sweep) if sweep is not None else None
    live = use_color(out) and not once
    shown: dict[str, str] = {}  # run id -> the line last printed for it (in a pipe)
    drawn = 0
    idle = 0
    seen_any = False
    checked = queued_until = 0.0
    while True:
        now = time.time()
        if now - checked >= RECONCILE_SECONDS:  # squeue at most this often
            reconcile(archive, now)
            checked = now
        flights = in_flight(archive, sweep_id, now)
        ids = {str(f.run["id"]) for f in flights}
        seen_any = seen_any or bool(flights)
        ended = [_ended_line(archive, run_id, out) for run_id in shown if run_id not in ids]
        lines = [line(f, out, trend=live) for f in flights]
        head = _head(archive, sweeps, sweep_id, len(flights), out)
        if live:
            if drawn:
                out.write(f"\x1b[{drawn}F\x1b[J")  # up to the block's start, and clear it
            for text in ended:
                write_line(out, text)
            width = shutil.get_terminal_size().columns
            block = [head, *lines]
            for text in block:
                write_line(out, _fit(text, width))
            drawn = len(block)
            shown = dict.fromkeys(ids, "")
        elif once:
            for text in [head, *lines]:
                write_line(out, text)
        else:
            for text in ended:
                write_line(out, text)
            for run_id in list(shown):
                if run_id not in ids:
                    del shown[run_id]
            for flight, text in zip(flights, lines, strict=True):
                run_id = str(flight.run["id"])
                if shown.get(run_id) != text:
                    write_line(out, f"{time.strftime('%H:%M:%S')} {text}")
                    shown[run_id] = text
        out.flush()
        if once:
            return 0
        busy = bool(flights) or now < queued_until
        if not busy and sweep_id is not None:
            holding, queued = _busy(sweeps, sweep_id)
            busy = holding or queued
            if queued:  # points wait in Slurm: ask squeue again in a while, not each time
                queued_until = now + RECONCILE_SECONDS
        idle = 0 if busy else idle + 1
        if idle >= 2:
            if not live and not seen_any:
                write_line(out, "no runs in flight")
            return 0
        time.sleep(every)


def _busy(sweeps: Sweeps, sweep_id: str) -> tuple[bool, bool]:
    """Whether a point is held by a live process; whether one waits in Slurm."""
    if any(sweeps.claims(sweep_id).held()):
        return True, False
    from expman.sweeps.slurm import waiting

    queued = any(state.startswith("queued") for state in waiting(sweeps, sweep_id).values())
    return False, queued


def line(flight: Flight, out: TextIO, trend: bool) -> str:
    """One run in flight: id, point, state, step, elapsed, metrics (with a trend); what
    comes from the record `printable`."""
    run = flight.run
    state = flight.state
    label = style(f"{state:<8}", _STATE_COLOURS.get(state, "dim"), out)
    parts: list[str] = []
    point = run.get("sweep")
    if isinstance(point, dict):
        values = run.get("overrides")  # a point's vars are its overrides
        values = values if isinstance(values, dict) else {}
        vars_text = " ".join(f"{k}={formats.cell(v)}" for k, v in values.items())
        parts.append(f"#{point.get('index')} {vars_text}".rstrip())
    parts.append(flight.step or "-")
    parts.append(_duration(flight.elapsed))
    if state == "stale" and flight.beat is not None:
        parts.append(f"no heartbeat for {_duration(heartbeat.age(flight.beat))}")
    for name, values in list(flight.trend.items())[:4]:
        text = f"{name}={values[-1]:.4g}"
        if trend and len(values) > 1:
            text += " " + spark(values)
        parts.append(text)
    return "  ".join([printable(str(run.get("id"))), label, *map(printable, parts)])


def spark(values: list[float]) -> str:
    """A small trend of finite values: one bar per value, scaled between their extremes."""
    finite = [v for v in values if v == v and abs(v) != float("inf")]
    if not finite:
        return ""
    low, high = min(finite), max(finite)
    span = (high - low) or 1.0
    return "".join(
        BARS[round((v - low) / span * (len(BARS) - 1))] if v in finite else " " for v in values
    )


def _head(archive: Archive, sweeps: Sweeps, sweep_id: str | None, flying: int, out: TextIO) -> str:
    when = time.strftime("%H:%M:%S")
    if sweep_id is None:
        return style(f"{flying} run{'s' if flying != 1 else ''} in flight ({when})", "bold", out)
    total = len(sweeps.plan(sweep_id))
    runs, _ = index.load(archive, {"sweep", "status"})
    best: dict[int, str] = {}
    for run in runs:
        tag = run.get("sweep")
        final = run.get("status") in (record.SUCCEEDED, record.FAILED, record.INTERRUPTED)
        if not (isinstance(tag, dict) and tag.get("id") == sweep_id and final):
            continue
        index_ = tag.get("index")
        if isinstance(index_, int) and best.get(index_) != record.SUCCEEDED:  # not text
            best[index_] = str(run.get("status"))
    done = sum(1 for s in best.values() if s == record.SUCCEEDED)
    failed = len(best) - done
    text = f"sweep {sweep_id}: {done}/{total} done, {failed} failed, {flying} in flight ({when})"
    return style(text, "bold", out)


def _ended_line(archive: Archive, run_id: str, out: TextIO) -> str:
    try:
        run = archive.read(run_id)
    except ArchiveError:
        return f"{printable(run_id)} left"
    status = str(run.get("status"))
    colour = "green" if status == record.SUCCEEDED else "red"
    return f"{printable(run_id)} {style(printable(status), colour, out)}"


def _duration(seconds: float) -> str:
    seconds = int(max(0.0, seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _fit(text: str, width: int) -> str:
    """Cut a line to the terminal's width (escape codes take no room)."""
    kept, visible, position = [], 0, 0
    for code in [*_CODE.finditer(text), None]:
        end = code.start() if code is not None else len(text)
        piece = text[position:end][: max(0, width - visible)]
        kept.append(piece)
        visible += len(piece)
        if code is not None:
            kept.append(code.group())
            position = code.end()
    return "".join(kept)

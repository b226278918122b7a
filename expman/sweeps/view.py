"""What a sweep shows while it runs.

In a pipe, and always: one line per event (a point started; a point ended, with its run,
the counts, the time elapsed and an estimate of what is left). On a terminal, also a
block kept at the bottom and redrawn in place: points done, failed, running and queued,
elapsed and left, and each running point with its latest metric values (read from the
metrics file in its workspace, once it is written).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from expman import formats
from expman.output import printable, style, use_color, write_line
from expman.sweeps.plan import Point
from expman.sweeps.store import Sweeps

REDRAW_SECONDS = 0.5
Metrics = Callable[[int], "dict[str, Any] | None"]
Best = Callable[[], str]  # an adaptive search's best trial so far, said in a line


class View:
    """Event lines, and on a terminal the live block under them."""

    def __init__(
        self,
        sweeps: Sweeps,
        sweep_id: str,
        points: dict[int, Point],
        total: int,
        err: TextIO,
        metrics: Metrics,
        best: Best | None = None,
    ) -> None:
        self.sweeps, self.sweep_id, self.points = sweeps, sweep_id, points
        self.total, self.err, self.metrics = total, err, metrics
        self.best, self.best_line = best, ""
        self.live = use_color(err)  # a terminal that takes escape codes
        self.started = time.monotonic()
        self.done = self.failed = 0
        self.running: dict[int, float] = {}
        self.drawn = 0  # lines of the block on screen
        self.last_draw = 0.0

    def event(self, kind: str, index: int, code: int | None) -> None:
        """A point started, was skipped, or finished with `code`."""
        values = ", ".join(f"{k}={json.dumps(v)}" for k, v in self.points[index].vars.items())
        if kind == "started":
            self.running[index] = time.monotonic()
            text = printable(f"point {index} ({values}): started")
        elif kind == "skipped":
            self.running.pop(index, None)
            text = f"point {index}: another process runs it, or ran it"
        else:
            self.running.pop(index, None)
            self.done += 1
            self.failed += code != 0
            result = self.sweeps.result(self.sweep_id, index) or {}
            run = f"run {result['run']}" if result.get("run") else "no run"
            reason = result.get("reason")
            if isinstance(reason, str):  # a point that changed shared data, said as it ends
                run += ": " + printable(reason)
            state = {0: "succeeded", 1: "failed", 130: "interrupted"}.get(code or 0, f"exit {code}")
            if result.get("status") == "pruned":  # a search's trial its pruner stopped
                state = "pruned"
            elapsed = time.monotonic() - self.started
            text = (
                f"point {index} ({values}): {state}, {run} "
                f"[{self.done}/{self.total} done, {self.failed} failed, "
                f"{formats.duration(elapsed)} elapsed, ~{formats.duration(self._left())} left]"
            )
            text = style(printable(text), "green" if code == 0 else "red", self.err)
        self._clear()
        write_line(self.err, f"expman: {text}")
        if kind == "finished" and self.best is not None:
            best = self.best()
            if best != self.best_line:  # said when it changes
                self.best_line = best
                write_line(self.err, style(f"expman: {printable(best)}", "bold", self.err))
        self._draw()

    def tick(self, running: Sequence[int]) -> None:
        """Called as the backend waits: redraw the block now and then."""
        if self.live and time.monotonic() - self.last_draw >= REDRAW_SECONDS:
            self._clear()
            self._draw()

    def close(self) -> None:
        """Leave the screen with the event lines only."""
        self._clear()

    def block(self) -> list[str]:
        """The live block's lines."""
        elapsed = time.monotonic() - self.started
        queued = self.total - self.done - len(self.running)
        lines = [
            f"sweep {self.sweep_id}: {self.done - self.failed} done, {self.failed} failed, "
            f"{len(self.running)} running, {max(0, queued)} queued; "
            f"{formats.duration(elapsed)} elapsed, ~{formats.duration(self._left())} left"
        ]
        if self.best_line:
            lines.append(self.best_line)
        for index, since in sorted(self.running.items()):
            shown = _latest(self.metrics(index))
            lines.append(
                f"  point {index}: {formats.duration(time.monotonic() - since)}"
                + (f"  {shown}" if shown else "")
            )
        return lines

    def _left(self) -> float | None:
        if not self.done:
            return None
        elapsed = time.monotonic() - self.started
        return elapsed / self.done * (self.total - self.done)

    def _clear(self) -> None:
        if self.live and self.drawn:
            self.err.write(f"\x1b[{self.drawn}F\x1b[J")  # up to the block's start, clear
            self.err.flush()
            self.drawn = 0

    def _draw(self) -> None:
        if not self.live:
            return
        lines = self.block()
        for line in lines:
            write_line(self.err, style(printable(line), "dim", self.err))
        self.drawn = len(lines)
        self.last_draw = time.monotonic()


def _latest(metrics: dict[str, Any] | None) -> str:
    """A few metric values as `name=value` (numbers first)."""
    if not isinstance(metrics, dict):
        return ""
    numbers = [(k, v) for k, v in metrics.items() if isinstance(v, int | float)]
    return "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in numbers[:4])

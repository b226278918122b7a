"""What the sweep command needs of a backend, wherever the points run: start them, say
how each ended, stop them. `local` runs points on this machine; a Slurm backend will
submit the same point processes as jobs (SPEC §10)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

CLAIMED = 75  # EX_TEMPFAIL: a point's exit when another process runs it, or has done it

# (event, index, exit code or None): "started", "finished", "skipped" (claimed elsewhere)
Event = Callable[[str, int, "int | None"], None]
Tick = Callable[[list[int]], None]
Ask = Callable[[], "int | None"]  # an adaptive search's next trial (its index), None: no more


class Backend(Protocol):
    """Runs a sweep's points."""

    def run(
        self,
        indices: Sequence[int],
        event: Event,
        tick: Tick | None = None,
        ask: Ask | None = None,
    ) -> dict[int, int]:
        """Run the points, then those `ask` gives until it gives None; each one's exit
        code (0 succeeded, 1 failed, 130 interrupted, `CLAIMED` run by another). Ctrl-C
        stops them all, then re-raises."""

    def stop(self) -> None:
        """Stop every point in flight (each records its run interrupted)."""

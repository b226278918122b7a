"""The local backend's wait for the points in flight."""

from __future__ import annotations

import subprocess
import time

from expman.sweeps.local import _until_one_ends


def test_the_wait_ends_when_a_point_ends_not_at_its_timeout() -> None:
    """A slot frees as soon as a point ends: the backend does not sleep out its poll
    period (a 50 ms sleep a point was most of a trivial point's cost at `--jobs 2`)."""
    quick = subprocess.Popen(["true"])
    slow = subprocess.Popen(["sleep", "60"])
    try:
        started = time.monotonic()
        _until_one_ends([(quick, []), (slow, [])], timeout=30)
        assert time.monotonic() - started < 20
        assert quick.poll() == 0  # the one that ended, not reaped by the wait
        assert slow.poll() is None
    finally:
        slow.kill()
        slow.wait()


def test_the_wait_lasts_its_timeout_while_every_point_runs() -> None:
    slow = subprocess.Popen(["sleep", "60"])
    try:
        started = time.monotonic()
        _until_one_ends([(slow, [])], timeout=0.3)
        assert time.monotonic() - started >= 0.3
    finally:
        slow.kill()
        slow.wait()

"""Writing to the terminal: every helper takes its stream explicitly."""

from __future__ import annotations

import os
import threading
from typing import TextIO

_CODES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}


def use_color(stream: TextIO) -> bool:
    """Colours only on a terminal, and never when NO_COLOR is set (no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def style(text: str, name: str, stream: TextIO) -> str:
    """`text` in a colour or weight from `_CODES` when `stream` shows colours."""
    if not use_color(stream):
        return text
    return f"\033[{_CODES[name]}m{text}\033[0m"


def write_line(stream: TextIO, text: str = "") -> None:
    """Write one line and flush, so that output interleaves with the stages' own."""
    stream.write(text + "\n")
    stream.flush()


class Progress:
    """A one-line progress bar on a terminal, for work over `total` bytes; silent elsewhere.

    `advance` may be called from several threads.
    """

    MIN_BYTES = 64 << 20  # below this the work is too quick to be worth a bar

    def __init__(self, stream: TextIO, label: str, total: int) -> None:
        self.stream, self.label, self.total = stream, label, total
        self.done = 0
        self.shown = -1
        self.enabled = total >= self.MIN_BYTES and bool(getattr(stream, "isatty", bool)())
        self._lock = threading.Lock()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled and self.shown >= 0:
            self.stream.write("\n")
            self.stream.flush()

    def advance(self, amount: int) -> None:
        """Count `amount` more bytes done."""
        if not self.enabled:
            return
        with self._lock:
            self.done += amount
            percent = min(100, self.done * 100 // max(self.total, 1))
            if percent == self.shown:
                return
            self.shown = percent
            bar = "#" * (percent // 4)
            self.stream.write(
                f"\r{self.label} [{bar:<25}] {percent:3d}% "
                f"({self.done >> 20}/{self.total >> 20} MiB)"
            )
            self.stream.flush()

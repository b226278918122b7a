"""Writing to the terminal: every helper takes its stream explicitly."""

from __future__ import annotations

import os
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

"""Writing to the terminal: every helper takes its stream explicitly. Text from elsewhere
(records, stages, files) is shown through `printable`, so that none of it can act on the
terminal."""

from __future__ import annotations

import os
import re
import sys
import threading
from typing import TextIO

from expman.errors import EXIT_INTERNAL, ExpmanError

_CODES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}

# Characters a terminal acts on instead of showing, or that change how the text around
# them reads: the C0 controls but tab and newline (ESC starts the sequences that clear
# the screen, set the title or make links), DEL, the C1 controls (U+009B is CSI), the
# bidirectional formatting characters (they reorder what follows: "Trojan Source",
# CVE-2021-42574), and lone surrogates (text that is no text; no terminal is sent them).
_HIDDEN = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


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


def printable(text: str) -> str:
    """`text` as it may be shown to a person: every character of `_HIDDEN` as a visible
    escape (ESC as `\\x1b`, DEL as `\\x7f`, CSI as `\\u009b`, RIGHT-TO-LEFT OVERRIDE as
    `\\u202e`); tabs, newlines and every other character as they are. Applying it again
    changes nothing."""
    return _HIDDEN.sub(_escape, text)


def printable_json(text: str) -> str:
    """JSON text (from `json.dumps`, which escapes the C0 controls itself) with every
    other character of `_HIDDEN` as a `\\u` escape: the same value, safe to show."""
    if text.isascii() and "\x7f" not in text:  # DEL is all ASCII can hold; isascii is O(1)
        return text
    return _HIDDEN.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}"


def write_line(stream: TextIO, text: str = "") -> None:
    """Write one line and flush, so that output interleaves with the stages' own.

    A reader that went away (`expman status | head -1`) is no error: what it would have
    read goes nowhere from then on, and the command carries on (a run's logs and record
    are the truth, not the terminal).
    """
    try:
        stream.write(text + "\n")
        stream.flush()
    except BrokenPipeError:
        silence(stream)


def write_error(stream: TextIO, error: Exception, where: str = "expman") -> int:
    """Say `error`, caught at the edge of a process of expman, escaped: an `ExpmanError`
    as `WHERE: message`, anything else as a bug (its traceback, and what to do). Returns
    the exit code to end with."""
    if isinstance(error, ExpmanError):
        write_line(stream, printable(f"{where}: {error}"))
        return error.exit_code
    import traceback  # only for a bug: slow to import

    write_line(stream, printable("".join(traceback.format_exception(error)).rstrip("\n")))
    write_line(stream, "expman: internal error: please report it with the traceback above")
    return EXIT_INTERNAL


def silence(stream: TextIO) -> None:
    """Send what is still to be written to `stream` to /dev/null: its reader is gone."""
    try:
        fd = stream.fileno()
    except (OSError, ValueError):
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)


def ensure_standard_streams() -> None:
    """Open /dev/null on standard input, output or error where they are closed
    (`expman run >&- 2>&-`), so that no file expman opens later takes their numbers and
    receives what was meant for the terminal; give Python streams for them."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    for name, fd, mode in (("stdin", 0, "r"), ("stdout", 1, "w"), ("stderr", 2, "w")):
        if getattr(sys, name) is None:
            stream = open(fd, mode, encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
            setattr(sys, name, stream)


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

"""Terminal output: colours and the progress bar only on a terminal; what is shown of
text from elsewhere, escaped."""

from __future__ import annotations

import io
import json
import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from expman.output import Progress, printable, printable_json, style, use_color


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_shows_on_a_terminal_for_large_work() -> None:
    stream = Terminal()
    with Progress(stream, "archiving outputs", 200 << 20) as progress:
        for _ in range(4):
            progress.advance(50 << 20)
    lines = stream.getvalue().split("\r")
    assert lines[-1] == "archiving outputs [#########################] 100% (200/200 MiB)\n"
    assert "25% (50/200 MiB)" in lines[1]


@pytest.mark.parametrize(("stream", "total"), [(io.StringIO(), 1 << 30), (Terminal(), 1 << 20)])
def test_progress_is_silent_in_a_pipe_or_for_small_work(stream: io.StringIO, total: int) -> None:
    with Progress(stream, "x", total) as progress:
        progress.advance(total)
    assert stream.getvalue() == ""


def test_colours_only_on_a_terminal_and_never_with_no_color(monkeypatch) -> None:
    assert style("a", "red", io.StringIO()) == "a"
    assert style("a", "red", Terminal()) == "\033[31ma\033[0m"
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_color(Terminal())


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[2J", r"\x1b[2J"),  # clear the screen
        ("\x1b]0;title\x07", r"\x1b]0;title\x07"),  # set the window title
        ("a\rb\x08\x7f", r"a\x0db\x08\x7f"),  # write over what was shown
        ("\u009b2J", r"\u009b2J"),  # CSI as one C1 character
        ("\u202egnp.exe", r"\u202egnp.exe"),  # right-to-left override
        ("\u2066\u061c\u200f", r"\u2066\u061c\u200f"),  # isolate, Arabic and RTL marks
        ("\ud800", r"\ud800"),  # a lone surrogate: no UTF-8 for it
        ("tab\tand\nline", "tab\tand\nline"),
        ("é 中文 😀 שלום C:\\data\\x1b", "é 中文 😀 שלום C:\\data\\x1b"),
    ],
)
def test_printable_escapes_what_a_terminal_would_act_on(text: str, shown: str) -> None:
    assert printable(text) == shown


_ACTED_ON = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_BIDI = {
    "\u061c",
    "\u200e",
    "\u200f",
    *map(chr, range(0x202A, 0x202F)),
    *map(chr, range(0x2066, 0x206A)),
}


@settings(deadline=None)
@given(st.text(st.characters(codec=None)))
def test_printable_leaves_no_control_and_changes_nothing_else(text: str) -> None:
    shown = printable(text)
    assert _ACTED_ON.search(shown.replace("\t", "").replace("\n", "")) is None
    assert not _BIDI & set(shown)
    shown.encode("utf-8")  # no lone surrogate
    assert printable(shown) == shown
    if "\\" not in text:  # each escape names its one character
        unescaped = re.sub(r"\\x([0-9a-f]{2})|\\u([0-9a-f]{4})", _character, shown)
        assert unescaped == text
    kept = [c for c in text if unicodedata.category(c) not in ("Cc", "Cs") and c not in _BIDI]
    assert all(c in shown for c in kept)


def _character(match: re.Match[str]) -> str:
    return chr(int(match.group(1) or match.group(2), 16))


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(st.characters(codec=None)),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(st.characters(codec=None)), inner),
    max_leaves=20,
)


@pytest.mark.slow
@settings(deadline=None)
@given(_JSON)
def test_printable_json_is_the_same_value_and_shows_no_control(value: object) -> None:
    text = printable_json(json.dumps(value, ensure_ascii=False))
    assert json.loads(text) == value
    assert _ACTED_ON.search(text) is None and not _BIDI & set(text)
    text.encode("utf-8")

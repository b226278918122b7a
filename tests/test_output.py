"""Terminal output: colours and the progress bar only on a terminal."""

from __future__ import annotations

import io

import pytest

from expman.output import Progress, style, use_color


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

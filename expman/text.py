"""Text that people type: lists on a command line, and the known word a mistyped one
meant."""

from __future__ import annotations

from collections.abc import Iterable


def split_commas(text: str, keep_empty: bool = False) -> list[str]:
    """`a,b,c` -> ["a", "b", "c"]; a comma inside brackets, braces, parentheses or quotes
    (', ", `) belongs to its item (`max([a, b]),c` is two items). Items are stripped;
    empty ones are left out, unless `keep_empty`."""
    parts, depth, quote, start = [], 0, "", 0
    for index, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'`\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return [part for part in (p.strip() for p in parts) if part or keep_empty]


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """`did you mean 'run'?` for `rn`; None when nothing is close."""
    import difflib  # here: only a mistake's hint needs it

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None

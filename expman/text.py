"""Reading lists that people type on a command line."""

from __future__ import annotations


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

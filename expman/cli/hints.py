"""Hints for what a person typed: the command meant by a typo, a value YAML read other
than typed. Each names the fix; none changes what the command does."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence

_LEADING_ZERO = re.compile(r"^\s*([+-]?)0+([0-9]+)\s*$")


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """`hint: did you mean 'run'?` for `rn`; None when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def leading_zeros(overrides: Sequence[str]) -> list[str]:
    """A warning for each `-s NAME=010`: YAML 1.2 reads it as the number 10, and the
    stages see `10`."""
    found = []
    for item in overrides:
        name, _, raw = item.partition("=")
        matched = _LEADING_ZERO.match(raw)
        if matched:
            number = int(matched[1] + matched[2])
            found.append(
                f"-s {item} is the number {number} (YAML 1.2): "
                f"write -s {name}='\"{raw.strip()}\"' to keep the text"
            )
    return found

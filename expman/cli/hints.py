"""Hints for what a person typed: a value YAML read other than typed (the command meant
by a typo: `text.did_you_mean`). Each names the fix; none changes what the command does."""

from __future__ import annotations

import re
from collections.abc import Sequence

_LEADING_ZERO = re.compile(r"^\s*([+-]?)0+([0-9]+)\s*$")


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

"""What one line of a series file says, read as untrusted input: the JSON object it
parses to (or none), its step and its values as numbers, which names a metric may have, and
a name as a message shows it.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_NAME = 256  # characters of a metric's name
EXACT = 2**53  # integers beyond are numbers a float (and JavaScript) cannot hold exactly


class Absent:
    """A line without a `step`."""


ABSENT = Absent()


def json_value(data: bytes) -> Any:
    """`data` parsed as JSON, or None: not UTF-8, not JSON, nested too deeply."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None


def exact_integers(steps: list[Any]) -> bool:
    """Whether every step is an integer a float holds exactly (the usual case, checked
    in C)."""
    return set(map(type, steps)) == {int} and min(steps) >= -EXACT and max(steps) <= EXACT


def numeric(steps: list[float], values: list[Any]) -> tuple[list[float], list[float]] | None:
    """The points of a metric among one batch's values (its steps and numbers), or None
    when none of the values is a number."""
    if exact_numbers(values):
        return steps, values
    numbers = [metric_value(v) for v in values]
    kept = [(step, n) for step, n in zip(steps, numbers, strict=True) if n is not None]
    if not kept:
        return None
    return [step for step, _ in kept], [n for _, n in kept]


def exact_numbers(values: list[Any]) -> bool:
    """Whether every value is a float or an integer a float holds exactly."""
    types = set(map(type, values))
    if not types <= {float, int}:
        return False
    return int not in types or all(-EXACT <= v <= EXACT for v in values if type(v) is int)


def metric_value(value: Any) -> float | None:
    """A metric's value as a number (non-finite ones included), or None: not a number.
    An integer too big for a float is an infinity."""
    if type(value) is float:
        return value
    if type(value) is int:
        try:
            return float(value) if abs(value) > EXACT else value
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    return None


def finite_step(value: Any) -> float | None:
    """A step as a finite number, or None."""
    step = metric_value(value)
    return step if step is not None and math.isfinite(step) else None


def good_name(name: str) -> bool:
    """Whether a metric may have this name: at most `MAX_NAME` characters, and text that
    UTF-8 can hold (JSON's `\\ud800` is not: a lone surrogate)."""
    if len(name) > MAX_NAME:
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shown(name: str) -> str:
    """A name in a message: JSON-quoted in ASCII (no control character reaches a
    terminal), and cut."""
    quoted = json.dumps(name[:40])
    return quoted if len(name) <= 40 else quoted[:-1] + '..."'

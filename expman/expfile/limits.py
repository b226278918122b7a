"""The limits on the values an expfile holds, which the values of `-s` and of a sweep's
points keep as well: how deep they nest (`MAX_DEPTH`) and which numbers they can be
(`number_problem`). No YAML is imported here."""

from __future__ import annotations

import json

from expman import jsontext

MAX_DEPTH = 32  # how deeply an expfile may nest lists and mappings
_SHOWN = 40  # characters of a value a message quotes whole


def number_problem(value: float, written: str | None = None) -> str | None:
    """Why no var, env value or point can be the number `value` (as `written`, when it
    was text); None when one can. Values are recorded in strict JSON: no NaN, no
    infinities, and (`jsontext.finite`) nothing beyond a 64-bit float, which its readers
    would read as infinity."""
    if jsontext.finite(value):
        return None
    if written is None:
        written = json.dumps(value) if isinstance(value, float) else "an integer"
    if isinstance(value, float) and not any(c.isdigit() for c in written):  # .inf, NaN
        return f"{written} is not a finite number"
    return (
        f"{excerpt(written)} is out of range: a number is at most ±1.8e308 (a 64-bit float); "
        "quote it to mean text"
    )


def excerpt(text: str) -> str:
    """`text` as a message quotes it: whole when short, else its start and its length."""
    return text if len(text) <= _SHOWN else f"{text[:20]}... ({len(text):,} characters)"

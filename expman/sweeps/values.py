"""Pure: the values a var takes at a sweep's points, typed as every value expman reads
(YAML 1.2's core schema), checked, and told apart.

A point's values reach its run as `-s` overrides and its record as JSON, so a value is
refused here, before any point runs, when no var can take it: null, a number no expfile
may hold (`limits.number_problem`), text holding a NUL character, nesting deeper than an
expfile may. Two values are
the same when JMESPath and Python say they are equal: `1` and `1.0`, mappings in any
order (`identity`).
"""

from __future__ import annotations

import json
from typing import Any

from expman.expfile.limits import MAX_DEPTH, number_problem


class BadValue(Exception):
    """A value no var can take; its message says why."""


def typed(text: str) -> Any:
    """`text` typed as YAML types a plain value (text that is not YAML stays text);
    `BadValue` for one no var can take."""
    from expman.expfile import yamlnodes  # here: readers of sweeps (watch, status) need no YAML

    written = text.strip()
    try:
        node = yamlnodes.compose(written)
    except yamlnodes.SyntaxProblem:  # text (a NUL, which YAML refuses, refused here)
        return checked(written)
    if node is None:
        raise BadValue("an empty value")
    problems = yamlnodes.check(node)  # numbers too (`limits.number_problem`)
    if problems:
        raise BadValue(problems[0].message)
    return checked(yamlnodes.construct(node))


def checked(value: Any) -> Any:
    """`value`, when a var can take it at a point; else `BadValue` saying why."""
    problem = _problem(value, 0)
    if problem:
        raise BadValue(problem)
    return value


def identity(value: Any) -> str:
    """What tells values (and points) apart: equal values have one identity."""
    return json.dumps(_canonical(value), sort_keys=True, ensure_ascii=False)


def shown(value: Any) -> str:
    """A value as a person wrote it: text as it is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def number(value: Any) -> bool:
    """Whether `value` is a number (a boolean is not)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _problem(value: Any, depth: int) -> str | None:
    if value is None:
        return "null is not a value (a var takes text, a number, a boolean, a list or a mapping)"
    if depth > MAX_DEPTH:
        return f"nested more than {MAX_DEPTH} levels deep"
    if isinstance(value, str) and "\0" in value:
        return "contains a NUL character, which no command line or environment can hold"
    if number(value):
        return number_problem(value)
    items: list[Any] = []
    if isinstance(value, dict):
        items = [*value, *value.values()]
    elif isinstance(value, list):
        items = value
    for item in items:
        problem = _problem(item, depth + 1)
        if problem:
            return problem
    return None


def _canonical(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    return value

"""JMESPath over records: compiling with located errors, a few extra functions, and the
record fields an expression names (so that only those need loading; see `index`).

Extra functions (JMESPath has no regular expressions and no dates):

    matches(text, regex)   true when the regular expression matches somewhere in text
    to_epoch(text)         ISO 8601 date or time (UTC unless it says otherwise) -> seconds
    to_iso(seconds)        epoch seconds -> ISO 8601 text in UTC
    days_ago(n)            epoch seconds of this moment, n days ago
    group_by(array, &key)  arrays of the elements with equal keys, ordered by key
    unique(array)          the distinct values, ordered
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import threading
import time
import warnings
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import jmespath
from jmespath import exceptions, functions

from expman.errors import QueryError
from expman.store.index import LazyRecord, complete_all
from expman.store.record import iso


class _Functions(functions.Functions):  # type: ignore[misc]
    @functions.signature({"types": ["string"]}, {"types": ["string"]})  # type: ignore[untyped-decorator]
    def _func_matches(self, text: str, pattern: str) -> bool:
        try:
            compiled = re.compile(pattern)
        except re.error as e:
            raise QueryError(f"matches(): bad regular expression {pattern!r}: {e}") from e
        with _regex_budget(pattern):
            return compiled.search(text) is not None

    @functions.signature({"types": ["string"]})  # type: ignore[untyped-decorator]
    def _func_to_epoch(self, text: str) -> float:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError as e:
            raise QueryError(f"to_epoch(): not an ISO 8601 date or time: {text!r}") from e
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.timestamp()

    @functions.signature({"types": ["number"]})  # type: ignore[untyped-decorator]
    def _func_to_iso(self, seconds: float) -> str:
        return iso(seconds)

    @functions.signature({"types": ["number"]})  # type: ignore[untyped-decorator]
    def _func_days_ago(self, days: float) -> float:
        return time.time() - days * 86400

    @functions.signature({"types": ["array"]}, {"types": ["expref"]})  # type: ignore[untyped-decorator]
    def _func_group_by(self, items: list[Any], key: Any) -> list[list[Any]]:
        groups: dict[str, list[Any]] = {}
        for item in items:
            value = key.visit(key.expression, item)
            groups.setdefault(_canonical(value), []).append(item)
        return [groups[k] for k in sorted(groups, key=_order)]

    @functions.signature({"types": ["array"]})  # type: ignore[untyped-decorator]
    def _func_unique(self, items: list[Any]) -> list[Any]:
        seen: dict[str, Any] = {}
        for item in items:
            seen.setdefault(_canonical(item), item)  # the first of equal values is kept
        return [seen[k] for k in sorted(seen, key=_order)]

    @functions.signature({"types": []}, {"types": []})  # type: ignore[untyped-decorator]
    def _func_ratio(self, numerator: Any, denominator: Any) -> float | None:
        # JMESPath has no arithmetic; "ended 10% above its minimum" needs one division.
        numbers = all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in (numerator, denominator)
        )
        if not numbers or denominator == 0:
            return None
        return float(numerator) / float(denominator)

    def call_function(self, function_name: str, resolved_args: list[Any]) -> Any:
        if function_name in _WHOLE_VALUE_FUNCTIONS:
            complete_all(resolved_args)  # they read or serialise whole records
        return super().call_function(function_name, resolved_args)

    # JMESPath checks types by the Python type's name; a LazyRecord is an object.
    def _type_check_single(self, current: Any, types: Any, function_name: str) -> Any:
        shown = {} if type(current) is LazyRecord else current
        return super()._type_check_single(shown, types, function_name)

    @functions.signature({"types": []})  # type: ignore[untyped-decorator]
    def _func_type(self, arg: Any) -> Any:
        # Overriding a function replaces its signature too: without this one, `type()`
        # would not be registered at all.
        return "object" if type(arg) is LazyRecord else super()._func_type(arg)


# Functions that look at every field of a value; the others (max_by, sort_by, ...) reach
# into records only through expressions, which load just the fields they name.
_WHOLE_VALUE_FUNCTIONS = frozenset(
    [
        "to_string",
        "to_array",
        "keys",
        "values",
        "length",
        "merge",
        "contains",
        "sort",
        "unique",
        "not_null",
        "join",
        "reverse",
        "max",
        "min",
    ]
)


_OPTIONS = jmespath.Options(custom_functions=_Functions())


class Query:
    """A compiled expression."""

    def __init__(self, text: str) -> None:
        self.text = text
        try:
            with warnings.catch_warnings():
                # `foo` (not JSON) is read as the text "foo", an old rule jmespath keeps
                # with a PendingDeprecationWarning; expman keeps the rule, quietly.
                warnings.simplefilter("ignore", PendingDeprecationWarning)
                self._compiled = jmespath.compile(text)
        except exceptions.JMESPathError as e:
            raise QueryError(_located(text, e)) from e
        except RecursionError as e:
            raise QueryError(f"invalid query: nested too deeply\n  {text[:80]}") from e

    def fields(self) -> set[str]:
        """Every field name the expression mentions (a superset of the record fields used)."""
        return set(_field_names(self._compiled.parsed))

    def tree(self) -> Any:
        """The parsed expression: JMESPath's nodes, `{"type", "children", "value"}`."""
        return self._compiled.parsed

    def search(self, data: Any) -> Any:
        """Evaluate over `data`; the result holds only complete records."""
        _BUDGET.reset()
        try:
            return complete_all(self._compiled.search(data, options=_OPTIONS))
        except exceptions.JMESPathError as e:
            raise QueryError(f"cannot evaluate {self.text!r}: {e}") from e
        except RecursionError as e:
            raise QueryError(f"cannot evaluate {self.text!r}: nested too deeply") from e
        except (ValueError, OverflowError, TypeError) as e:  # `[::0]`, a huge number
            raise QueryError(f"cannot evaluate {self.text!r}: {e}") from e


def _canonical(value: Any) -> str:
    """A key under which values that JMESPath's `==` finds equal are equal: `1` and `1.0`
    are one number (booleans stay apart from numbers, as in JMESPath)."""
    return json.dumps(_integral(value), sort_keys=True)


def _integral(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_integral(v) for v in value]
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    return value


class _Budget:
    """The time all `matches()` calls of one query may take together: a regular
    expression that backtracks catastrophically is stopped, not waited for."""

    SECONDS = 5.0

    def __init__(self) -> None:
        self.left = self.SECONDS

    def reset(self) -> None:
        self.left = self.SECONDS


_BUDGET = _Budget()


class _RegexTimeout(Exception):
    pass


@contextlib.contextmanager
def _regex_budget(pattern: str) -> Iterator[None]:
    """Run the block under what is left of the query's regex budget (SIGALRM; only the
    main thread can, elsewhere it runs unbounded)."""
    if threading.current_thread() is not threading.main_thread() or _BUDGET.left <= 0:
        if _BUDGET.left <= 0:
            raise _too_slow(pattern)
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise _RegexTimeout

    previous = signal.signal(signal.SIGALRM, expire)
    started = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, _BUDGET.left)
    try:
        yield
    except _RegexTimeout:
        _BUDGET.left = 0
        raise _too_slow(pattern) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        _BUDGET.left -= time.monotonic() - started


def _too_slow(pattern: str) -> QueryError:
    return QueryError(
        f"matches(): the regular expression {pattern!r} took more than "
        f"{_Budget.SECONDS:.0f} s in all (it may backtrack catastrophically, as `(a+)+$` "
        "does): simplify it"
    )


def _order(text: str) -> tuple[int, Any]:
    """Sort JSON texts: null, then numbers by value, then everything else by text."""
    value = json.loads(text)
    if value is None:
        return (0, 0)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (1, value)
    return (2, text)


def truthy(value: Any) -> bool:
    """JMESPath's idea of true: not null, false, '', [] or {}."""
    return not (value is None or value is False or value in ("", [], {}))


def _field_names(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if node.get("type") in ("field", "key_val_pair") and isinstance(node.get("value"), str):
            yield node["value"]
        for child in node.get("children", []):
            yield from _field_names(child)


def _located(text: str, error: exceptions.JMESPathError) -> str:
    """The parser's complaint, with the expression and a caret under the place."""
    position = getattr(error, "lex_position", None)
    if isinstance(error, exceptions.IncompleteExpressionError):
        message = "the expression ends too early"
    elif isinstance(error, exceptions.LexerError):
        message = str(error.message)
    elif getattr(error, "token_value", None) is not None:
        message = f"unexpected {error.token_value!r}"
    else:
        message = str(error).splitlines()[0]
    if isinstance(position, int) and 0 <= position <= len(text):
        return f"invalid query: {message}\n  {text}\n  {' ' * position}^"
    return f"invalid query: {message}\n  {text}"

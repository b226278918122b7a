"""JMESPath over records: compiling with located errors, a few extra functions, and the
record fields an expression names (so that only those need loading; see `index`).

A selection of runs, `[?condition]` or `[?condition].what`, whose condition compares
fields with `==`, `<`, ..., `&&`, `||` and `!`, is evaluated over the cache's columns
(`Query.search_table`), a whole column at a time: no record is built for a run the
condition leaves out, and no tree is walked per run. So is a projection of fields, `[].what`
or `[?condition].what` whose `what` is a path (`metrics.acc`, `tags[0]`) or a list or
object of paths (`[id, vars.lr]`, `{id: id, acc: metrics.acc}`): then no record is built at
all, and a path into a field is read as a column of its own (`Query.columns`, `index`'s
leaves). Anything else, and any condition that raises, is evaluated by JMESPath's own
interpreter over the records (the columns give the same values the records hold, with
JMESPath's own comparison rules).

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
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import jmespath
from jmespath import exceptions, functions, visitor

from expman.errors import QueryError
from expman.store.record import iso
from expman.store.recordtable import LazyRecord, Leaf, Table, complete_all


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

        problem = _call_problem(self._compiled.parsed)
        if problem is not None:  # said now, not only once a record reaches the call
            raise QueryError(f"cannot evaluate {text!r}: {problem}")
        self._selection = _Selection.of(self._compiled.parsed)

    def fields(self) -> set[str]:
        """Every field name the expression mentions (a superset of the record fields used)."""
        return set(_field_names(self._compiled.parsed))

    def columns(self) -> tuple[set[str], set[Leaf]]:
        """What `search_table` needs of the records (`index.load_table`): the fields it
        takes whole, and the paths into them it takes as columns of their own. An
        expression evaluated on columns alone needs no more; any other, every field it
        names."""
        selection = self._selection
        if selection is None or selection.what is None:
            return self.fields(), set()
        return selection.needs.fields, selection.needs.leaves

    def tree(self) -> Any:
        """The parsed expression: JMESPath's nodes, `{"type", "children", "value"}`."""
        return self._compiled.parsed

    def search_table(self, table: Table) -> Any:
        """Evaluate over the records of `table` (`index.load_table`): `search(table.rows())`,
        without building the records a selection leaves out."""
        selection = self._selection
        selected = None if selection is None else selection.select(table)
        if selection is None or selected is None:
            return self.search(table.rows())
        return self._evaluate(lambda: selection.project(table, selected))

    def positions(self, table: Table) -> list[int]:
        """The positions of the records of `table` for which this expression, a condition
        on one record (`vars.LR > `0.01``), holds: a column at a time where it can be
        (as `search_table` selects), else record by record."""
        vector = _vector(self._compiled.parsed, _Needs())
        selected = None if vector is None else _Selection(vector, None, _Needs()).select(table)
        if selected is not None:
            return selected
        records = table.one_by_one()
        return [i for i in range(len(records)) if truthy(self.search(records[i]))]

    def search(self, data: Any) -> Any:
        """Evaluate over `data`; the result holds only complete records."""
        return self._evaluate(lambda: self._compiled.search(data, options=_OPTIONS))

    def _evaluate(self, evaluation: Callable[[], Any]) -> Any:
        _BUDGET.reset()
        try:
            return complete_all(evaluation())
        except exceptions.JMESPathError as e:
            raise QueryError(f"cannot evaluate {self.text!r}: {e}") from e
        except RecursionError as e:
            raise QueryError(f"cannot evaluate {self.text!r}: nested too deeply") from e
        except (ValueError, OverflowError, TypeError) as e:  # `[::0]`, a huge number
            raise QueryError(f"cannot evaluate {self.text!r}: {e}") from e


def _call_problem(tree: Any) -> str | None:
    """What is wrong with a function call of a parsed expression whatever the records
    hold, as JMESPath says it when it evaluates the call: a function it does not have,
    or a number of arguments the function does not take. None when nothing is."""
    stack = [tree]
    table = _OPTIONS.custom_functions.FUNCTION_TABLE
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        if node.get("type") == "function_expression":
            name, given = node.get("value"), len(node.get("children", []))
            if name not in table:
                return f"Unknown function: {name}()"
            signature = table[name]["signature"]
            if signature and signature[-1].get("variadic"):
                if given < len(signature):
                    return str(exceptions.VariadictArityError(len(signature), given, name))
            elif given != len(signature):
                return str(exceptions.ArityError(len(signature), given, name))
        stack.extend(node.get("children", []))
    return None


Column = list[Any]
Vector = Callable[[Table], Column]  # one value per record of a table
Projection = Callable[[Table, list[int]], Column]  # one value per record at the positions


class _Needs:
    """What a compiled expression reads of the records: fields whole, and leaves (paths
    into fields, each a column of its own)."""

    __slots__ = ("fields", "leaves")

    def __init__(self) -> None:
        self.fields: set[str] = set()
        self.leaves: set[Leaf] = set()


class _Selection:
    """`[?condition].what` (or `[].what`) over a table: the condition a column at a time;
    `what` too when it is made of paths (`what`), else by JMESPath's interpreter on the
    records the condition selects (`what_node`)."""

    def __init__(
        self,
        condition: Vector | None,
        what: Projection | None,
        needs: _Needs,
        what_node: Any = None,
    ) -> None:
        self._condition = condition
        self.what = what
        self.needs = needs
        self._what_node = what_node

    @classmethod
    def of(cls, parsed: dict[str, Any]) -> _Selection | None:
        """The selection `parsed` is, or None when it is something else."""
        needs = _Needs()
        if parsed["type"] == "projection":  # `[].what`, `[*].what`: no condition
            whole, what = parsed["children"]
            projection = _projection(what, needs)
            if projection is None or not _whole_array(whole):
                return None
            return cls(None, projection, needs)
        if parsed["type"] != "filter_projection":
            return None
        whole, what, condition = parsed["children"]
        if whole["type"] != "identity":
            return None
        selects = _vector(condition, needs)
        if selects is None:
            return None
        return cls(selects, _projection(what, needs), needs, what)

    def select(self, table: Table) -> list[int] | None:
        """The positions of the records the condition selects; None when evaluating it
        raises (`1 < 'a'`): the interpreter then does as it would."""
        if self._condition is None:
            return list(range(len(table)))
        try:
            values = self._condition(table)
        except Exception:  # answered (or refused) by the interpreter
            return None
        return [
            i
            for i, value in enumerate(values)
            if value is True or (value is not False and truthy(value))
        ]

    def project(self, table: Table, selected: list[int]) -> list[Any]:
        """`what` of each selected record, as a projection takes it (nulls left out)."""
        if self.what is not None:
            return [value for value in self.what(table, selected) if value is not None]
        records = table.rows(selected)
        if self._what_node["type"] == "identity":
            return records
        interpreter = visitor.TreeInterpreter(_OPTIONS)
        found = (interpreter.visit(self._what_node, record) for record in records)
        return [value for value in found if value is not None]


def _whole_array(node: dict[str, Any]) -> bool:
    """Whether `node` is the array of records itself: `@`, or `[]` of it (records are
    objects: flattening leaves them as they are)."""
    if node["type"] == "flatten":
        node = node["children"][0]
    return bool(node["type"] == "identity")


def _projection(node: dict[str, Any], needs: _Needs) -> Projection | None:
    """`what` of a projection as columns: a path, or a list or object of paths; None for
    anything else (`@`, functions, ...). Lists and objects are built only for the records
    selected."""
    kind = node["type"]
    if kind in ("multi_select_list", "multi_select_dict"):
        listed = kind == "multi_select_list"
        children = (
            node["children"] if listed else [pair["children"][0] for pair in node["children"]]
        )
        found = [_projection(child, needs) for child in children]
        parts = [part for part in found if part is not None]
        if len(parts) < len(found):
            return None
        if listed:
            return lambda t, at: [list(row) for row in zip(*(p(t, at) for p in parts), strict=True)]
        keys = [pair["value"] for pair in node["children"]]
        return lambda t, at: [
            dict(zip(keys, row, strict=True))
            for row in zip(*(p(t, at) for p in parts), strict=True)
        ]
    vector = _path(node, needs)
    if vector is None:
        return None
    return lambda table, at: list(map(vector(table).__getitem__, at))


_COMPARE: dict[str, Callable[[Any, Any], Any]] = visitor.TreeInterpreter.COMPARATOR_FUNC


def _vector(node: dict[str, Any], needs: _Needs) -> Vector | None:
    """`node` evaluated for every record of a table at once; None for an expression that
    is not a comparison of fields and literals joined by `&&`, `||` and `!`. What it reads
    of the records is added to `needs`."""
    kind = node["type"]
    if kind == "literal":
        constant = node["value"]
        return lambda table: [constant] * len(table)
    if kind in ("and_expression", "or_expression", "comparator"):
        left, right = (_vector(child, needs) for child in node["children"])
        if left is None or right is None:
            return None
        if kind == "comparator":
            return _comparison(node["value"], left, right)
        if kind == "and_expression":
            return lambda t: [
                b if a is True or (a is not False and truthy(a)) else a
                for a, b in zip(left(t), right(t), strict=True)
            ]
        return lambda t: [
            a if a is True or (a is not False and truthy(a)) else b
            for a, b in zip(left(t), right(t), strict=True)
        ]
    if kind == "not_expression":
        inner = _vector(node["children"][0], needs)
        if inner is None:
            return None
        return lambda table: [_not(value) for value in inner(table)]
    return _path(node, needs)


def _comparison(operator: str, left: Vector, right: Vector) -> Vector:
    compare = _COMPARE[operator]
    if operator in ("eq", "ne"):
        return lambda t: [compare(a, b) for a, b in zip(left(t), right(t), strict=True)]
    ordered = _ORDERED  # the usual types answered without a call
    return lambda t: [
        compare(a, b)
        if (type(a) in ordered or _comparable(a)) and (type(b) in ordered or _comparable(b))
        else None
        for a, b in zip(left(t), right(t), strict=True)
    ]


def _comparable(value: Any) -> bool:
    """Whether `<` and the like compare `value` (a number or a text; anything else gives
    null), by the interpreter's own rule."""
    return bool(visitor._is_comparable(value))


_ORDERED = frozenset({int, float, str})


def _not(value: Any) -> bool:
    """JMESPath's `!`: `!0` is false (0 is no false value in JMESPath)."""
    if visitor._is_actual_number(value) and value == 0:
        return False
    return not value


def _path(node: dict[str, Any], needs: _Needs, inner: Vector | None = None) -> Vector | None:
    """Fields and indexes (`metrics.acc`, `tags[0]`) taken from `inner`'s values, or from
    the records themselves (None)."""
    kind = node["type"]
    if kind == "field":
        if inner is None:
            needs.fields.add(node["value"])
            return _column(node["value"])
        return _field(inner, node["value"])
    if kind == "subexpression":
        names = tuple(child["value"] for child in node["children"] if child["type"] == "field")
        if inner is None and len(names) == len(node["children"]):
            needs.leaves.add(names)
            return _leaf(names)
        vector = inner
        for child in node["children"]:
            vector = _path(child, needs, vector)
            if vector is None:
                return None
        return vector
    if kind == "index_expression":
        head, index = node["children"]
        vector = _path(head, needs, inner)
        if vector is None or index["type"] != "index":
            return None
        return _index(vector, index["value"])
    return None


def _column(name: str) -> Vector:
    """A field of the records: null where a record lacks it."""
    return lambda table: _present(table.columns.get(name)) or [None] * len(table)


def _leaf(names: Leaf) -> Vector:
    """A path of fields into the records (`metrics.acc`): its own column where the table
    has one (`Table.leaves`), else taken from its first field's column."""
    walked = _column(names[0])
    for name in names[1:]:
        walked = _field(walked, name)
    return lambda table: _present(table.leaves.get(names)) or walked(table)


def _present(column: list[Any] | None) -> list[Any]:
    """A column's values, null where a record lacks the field (none: no column)."""
    if not column:
        return []
    return [None if type(value) is tuple else value for value in column]  # ABSENT


def _field(inner: Vector, name: str) -> Vector:
    return lambda table: [v.get(name) if type(v) is dict else None for v in inner(table)]


def _index(inner: Vector, at: int) -> Vector:
    return lambda table: [
        v[at] if type(v) is list and -len(v) <= at < len(v) else None for v in inner(table)
    ]


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

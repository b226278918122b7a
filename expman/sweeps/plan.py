"""Pure: a sweep's definition becomes its points. No I/O.

A definition gives each swept var a spec, as text (`-s NAME=SPEC`, or a value under
`sweeps:` in the expfile):

    0.001,0.01,0.1        a list: one value each (typed as every value expman reads)
    1..5                  integers from 1 to 5
    0..1..0.25            from 0 to 1 by 0.25
    uniform(1e-4, 0.1)    random: uniform between the two
    loguniform(1e-4,0.1)  random: uniform in the logarithm
    int(1, 100)           random: an integer from 1 to 100
    choice(a, b, c)       random: one of them

Without `samples` the points are the grid: every combination of the lists, the last var
varying fastest. With `samples` (`--random N`), draw j takes each var from a generator
seeded with (seed, j) alone, and a draw that repeats an earlier point is left out: point
i is the i-th distinct draw, so extending 20 samples to 40 keeps the first 20; a list is
then a choice. A random spec without `samples` is an error. Each point's hash covers its
vars and the stage graph, so that a resume can tell the same point from a changed one.

No plan holds two identical points (values equal as JMESPath and Python compare them:
`1` and `1.0` are one value): a list names each value once, a var is swept once, and
random points beyond what the specs can give are refused (`PlanError`, saying why and
what was probably meant). Text that looks like a call of an unknown distribution
(`logunifrom(1e-4,1e-1)`) is an error, not a value; quoted (`'f(x)'`) it is text.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from expman.errors import UsageError
from expman.expfile.limits import excerpt
from expman.jsontext import finite
from expman.sweeps.values import BadValue, checked, identity, number, shown, typed
from expman.text import split_commas

_RANGE = re.compile(
    r"^\s*(-?[0-9.eE+-]+?)\s*\.\.\s*(-?[0-9.eE+-]+?)\s*(?:\.\.\s*([0-9.eE+-]+)\s*)?$"
)
_CALL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)\s*$", re.DOTALL)
_OPENED = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\((?!.*\))", re.DOTALL)  # `(`, no `)`
KINDS = ("uniform", "loguniform", "int", "choice")
MAX_POINTS = 1_000_000
# Draws allowed per random point asked, before a plan whose draws keep repeating earlier
# points is refused (a continuous distribution never repeats; drawing every one of n
# values takes about n ln n draws).
DRAWS_PER_POINT = 20


class PlanError(UsageError):
    """A definition that gives no plan of distinct points.

    `problem` says what is wrong, `where` is the part of the definition at fault as a
    path below a sweep named in the expfile (`("vars", "LR")`, `("random",)`), and
    `option` how the command line spells that part (`-s LR=1..3`, `--random 20`).
    """

    def __init__(
        self,
        problem: str,
        where: tuple[str, ...] = (),
        option: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.problem = problem
        self.where = where
        self.hint = hint
        text = f"{option}: {problem}" if option else problem
        super().__init__(text + (f"\n  hint: {hint}" if hint else ""))


@dataclass(frozen=True)
class Spec:
    """How one var is swept: `values` (a list, or a range spelled out) or a random `kind`
    with its arguments; `text` is the spec as written."""

    name: str
    values: tuple[Any, ...] = ()
    kind: str | None = None  # uniform, loguniform, int, choice: random only
    args: tuple[Any, ...] = ()
    text: str = ""

    @property
    def random(self) -> bool:
        """Whether this spec draws at random (and needs `samples`)."""
        return self.kind is not None

    @property
    def option(self) -> str:
        """The spec as `-s` gives it."""
        return f"-s {self.name}={self.text}"

    def count(self) -> int | None:
        """How many distinct values it gives (None: as many as floating point has)."""
        if self.kind is None:
            return len(self.values)
        if self.kind == "choice":
            return len(self.args)
        low, high = self.args
        if self.kind == "int":
            return int(high - low + 1)
        return 1 if low == high else None


@dataclass(frozen=True)
class Definition:
    """What a sweep covers: its specs, or listed points; random `samples` and `seed`."""

    specs: tuple[Spec, ...] = ()
    samples: int | None = None
    seed: int = 0
    listed: tuple[Mapping[str, Any], ...] = ()
    search: Mapping[str, Any] | None = None  # an adaptive search (`sweeps.search_definition`)

    def as_data(self) -> dict[str, Any]:
        """The definition as JSON-ready data (kept with the sweep)."""
        return {
            "specs": [
                {
                    "name": s.name,
                    "values": list(s.values),
                    "kind": s.kind,
                    "args": list(s.args),
                    "text": s.text,
                }
                for s in self.specs
            ],
            "samples": self.samples,
            "seed": self.seed,
            "listed": [dict(p) for p in self.listed],
            **({"search": dict(self.search)} if self.search is not None else {}),
        }


@dataclass(frozen=True)
class Point:
    """One point of the plan."""

    index: int
    vars: Mapping[str, Any]
    hash: str
    origin: Mapping[str, Any] | None = None  # an adaptive search's trial: sampler, seed


def parse_spec(name: str, text: str) -> Spec:
    """One `NAME=SPEC` (see the module's words); `PlanError` saying what is wrong."""
    call = _CALL.match(text)
    if call:
        kind, inner = call.group(1), call.group(2)
        if kind not in KINDS:
            raise _unknown_distribution(name, text, kind, inner)
        args = tuple(_spec_value(name, text, part) for part in split_commas(inner))
        return _checked_random(name, kind, args, text)
    opened = _OPENED.match(text)
    if opened:  # `uniform(1,2`: a call, not a value, whose `)` was left out
        raise _spec_error(
            name, text, f"{opened.group(1)}( is not closed: did you mean {text.strip()})?"
        )
    if "..." in text and _RANGE.match(text.replace("...", "..")):  # `1...3`: read as 1 to .3
        meant = f"-s {name}={text.replace('...', '..')}"
        raise _spec_error(name, text, "a range has two dots, not three", meant)
    ranged = _RANGE.match(text)
    if ranged and ".." in text:
        return Spec(name, _range(name, text, *ranged.groups()), text=text)
    parts = split_commas(text, keep_empty=True)
    if len(parts) > 1 and "" in parts:  # `1,,2`, `1,2,`: a value left out, or a typo
        raise _spec_error(
            name, text, "an empty value between two commas: leave the comma out, or write ''"
        )
    values = tuple(_spec_value(name, text, part) for part in parts if part)
    if not values:
        raise _spec_error(name, text, "no values")
    return Spec(name, _distinct(name, text, values), text=text)


def spec_of(name: str, value: Any) -> Spec:
    """A spec from the expfile's `sweeps:`: a YAML list is a list of values, text is a
    spec as on the command line, anything else a single value."""
    if isinstance(value, str):
        return parse_spec(name, value)
    values = tuple(value) if isinstance(value, list) else (value,)
    text = ",".join(json.dumps(v, ensure_ascii=False) for v in values)
    if not values:
        raise _spec_error(name, text, "an empty list sweeps nothing")
    for item in values:
        try:
            checked(item)
        except BadValue as e:
            raise _spec_error(name, text, str(e)) from e
    return Spec(name, _distinct(name, text, values), text=text)


def check(definition: Definition) -> None:
    """Refuse a definition that cannot give a plan of distinct points, drawing nothing:
    a var swept twice, a random spec without samples, too many points, or more random
    points asked than the specs can give."""
    seen: dict[str, Spec] = {}
    for spec in definition.specs:
        if spec.name in seen:
            problem = (
                f"{spec.name} is swept twice ({seen[spec.name].option} and {spec.option}): "
                "give one spec per var"
            )
            raise PlanError(problem, ("vars", spec.name))
        seen[spec.name] = spec
    if definition.samples is None:
        randoms = [s.name for s in definition.specs if s.random]
        if randoms:
            raise PlanError(
                f"{', '.join(randoms)}: a random spec needs a number of points: --random N",
                ("vars", randoms[0]),
            )
        size = math.prod(len(s.values) for s in definition.specs)
        if size > MAX_POINTS:
            raise PlanError(f"the grid has {size:,} points: more than {MAX_POINTS:,}")
        return
    samples = definition.samples
    option = f"--random {samples}"
    if samples > MAX_POINTS:
        raise PlanError(f"{samples:,} random points: more than {MAX_POINTS:,}", ("random",), option)
    counts = [spec.count() for spec in definition.specs]
    if definition.listed or None in counts:
        return
    space = math.prod(c for c in counts if c is not None)
    if samples > space:
        limited = [(s, c) for s, c in zip(definition.specs, counts, strict=True) if c]
        given = "; ".join(f"{s.name}={s.text} gives {_many(c, 'value')}" for s, c in limited)
        problem = (
            f"the specs allow only {_many(space, 'distinct point')}, fewer than the "
            f"{samples:,} asked: {given}"
        )
        raise PlanError(problem, ("random",), option, _random_hint(definition.specs))


def points(definition: Definition, graph: str) -> list[Point]:
    """The plan: every point, in index order, each hashed with the stage graph `graph`;
    `PlanError` when it would not be a plan of distinct points."""
    check(definition)
    if definition.listed:
        chosen = [dict(p) for p in definition.listed]
    elif definition.samples is not None:
        chosen = _distinct_draws(definition, definition.samples)
    else:
        names = [s.name for s in definition.specs]
        chosen = [
            dict(zip(names, combo, strict=True))
            for combo in itertools.product(*(s.values for s in definition.specs))
        ]
    return [Point(i, values, point_hash(values, graph)) for i, values in enumerate(chosen)]


def draw(definition: Definition, index: int) -> dict[str, Any]:
    """Random draw `index`: a function of (seed, index) alone."""
    generator = random.Random(f"expman-sweep:{definition.seed}:{index}")
    values: dict[str, Any] = {}
    for spec in definition.specs:
        if spec.kind == "uniform":
            values[spec.name] = generator.uniform(*spec.args)
        elif spec.kind == "loguniform":
            low, high = (math.log(a) for a in spec.args)
            values[spec.name] = math.exp(generator.uniform(low, high))
        elif spec.kind == "int":
            values[spec.name] = generator.randint(*spec.args)
        else:  # a choice, or a list drawn from at random
            values[spec.name] = generator.choice(spec.args if spec.kind else spec.values)
    return values


def point_hash(values: Mapping[str, Any], graph: str) -> str:
    """The point's identity: its vars and the stage graph they run through."""
    text = json.dumps({"vars": values, "graph": graph}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def graph_digest(steps: Sequence[Mapping[str, Any]]) -> str:
    """A digest of the stage graph (each step's name and definition)."""
    text = json.dumps(list(steps), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _distinct_draws(definition: Definition, samples: int) -> list[dict[str, Any]]:
    """The first `samples` distinct draws; `PlanError` when they keep repeating."""
    chosen: list[dict[str, Any]] = []
    seen: set[str] = set()
    limit = DRAWS_PER_POINT * samples + 1000
    for index in range(limit):
        values = draw(definition, index)
        key = identity(values)
        if key not in seen:
            seen.add(key)
            chosen.append(values)
            if len(chosen) == samples:
                return chosen
    problem = (
        f"only {_many(len(chosen), 'distinct point')} after {limit:,} draws, fewer than the "
        f"{samples:,} asked: the specs give too few distinct values"
    )
    hint = "is a uniform() range too narrow for floating point to tell its values apart?"
    raise PlanError(problem, ("random",), f"--random {samples}", hint)


def _many(count: int, word: str) -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def _random_hint(specs: Sequence[Spec]) -> str:
    """What a random sweep with too few distinct points probably meant."""
    for spec in specs:
        ranged = _RANGE.match(spec.text) if spec.kind is None else None
        whole = all(isinstance(v, int) for v in spec.values)  # then its values were meant
        if ranged and ".." in spec.text and not whole:
            low, high = ranged.group(1), ranged.group(2)
            meant = f"{spec.name}='uniform({low},{high})'"
            if number(spec.values[0]) and spec.values[0] > 0:
                meant += f" or {spec.name}='loguniform({low},{high})'"
            return (
                f"{spec.name}={spec.text} is a range, and random points take one of its "
                f"values: did you mean {meant}?"
            )
    return "to run every combination once, make it a grid: no random points"


def _unknown_distribution(name: str, text: str, kind: str, inner: str) -> PlanError:
    close = difflib.get_close_matches(kind, KINDS, n=1) or difflib.get_close_matches(
        kind.lower(), KINDS, n=1
    )
    problem = f"{kind}() is not a distribution ({', '.join(KINDS)})"
    hint = f"did you mean {close[0]}({inner})? " if close else ""
    hint += f"To sweep the text itself, quote it: -s \"{name}='{text.strip()}'\""
    return _spec_error(name, text, problem, hint)


def _spec_error(name: str, text: str, problem: str, hint: str | None = None) -> PlanError:
    return PlanError(problem, ("vars", name), f"-s {name}={excerpt(text)}", hint)


def _distinct(
    name: str, text: str, values: tuple[Any, ...], problem: str | None = None
) -> tuple[Any, ...]:
    """`values`, when no two are equal; else `PlanError` naming a pair (or `problem`)."""
    seen: dict[str, Any] = {}
    for value in values:
        key = identity(value)
        if key in seen:
            first, again = shown(seen[key]), shown(value)
            said = f"{first} is given twice" if first == again else f"{first} and {again} are"
            said += "" if first == again else " the same value"
            raise _spec_error(name, text, problem or f"{said}: a list gives each value once")
        seen[key] = value
    return values


def _checked_random(name: str, kind: str, args: tuple[Any, ...], text: str) -> Spec:
    if kind == "choice":
        if not args:
            raise _spec_error(name, text, "choice() needs at least one value")
        return Spec(name, kind=kind, args=_distinct(name, text, args), text=text)
    if len(args) != 2 or not all(number(a) for a in args):
        raise _spec_error(name, text, f"{kind}() takes two numbers, low and high")
    low, high = args
    if kind == "int" and not all(isinstance(a, int) for a in args):
        raise _spec_error(name, text, "int() takes two integers")
    if kind != "int" and not all(finite(v) for v in (low, high, high - low)):
        problem = f"{kind}() takes finite numbers, a finite distance apart"
        raise _spec_error(name, text, problem)
    if low > high:
        raise _spec_error(name, text, "the low end is above the high end")
    if kind == "loguniform" and low <= 0:
        raise _spec_error(name, text, "loguniform() needs numbers above 0")
    return Spec(name, kind=kind, args=(low, high), text=text)


def _range(name: str, text: str, low: str, high: str, step: str | None) -> tuple[Any, ...]:
    first, last = _spec_value(name, text, low), _spec_value(name, text, high)
    by = _spec_value(name, text, step) if step else 1
    ends = (first, last, by)
    if not all(number(v) for v in ends) or by <= 0:
        raise _spec_error(name, text, "a range is LOW..HIGH or LOW..HIGH..STEP, STEP above 0")
    exact = all(isinstance(v, int) for v in ends)  # each one a float holds (`typed`)
    if exact:
        count = (last - first) // by + 1
    else:
        span = (last - first) / by
        count = math.floor(span + 1e-9) + 1 if span <= MAX_POINTS else MAX_POINTS + 1
    if count < 1:
        raise _spec_error(name, text, "the range is empty")
    if count > MAX_POINTS:
        raise _spec_error(name, text, f"more than {MAX_POINTS:,} values")
    if exact:
        return tuple(first + i * by for i in range(count))
    values = tuple(round(first + i * by, 12) for i in range(count))
    problem = "its values are not all distinct (closer together than floating point tells)"
    return _distinct(name, text, values, problem)


def _spec_value(name: str, text: str, part: str) -> Any:
    try:
        return typed(part)
    except BadValue as e:
        raise _spec_error(name, text, str(e)) from e

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
varying fastest. With `samples` (`--random N`), point i draws each var from a generator
seeded with (seed, i) alone, so extending 20 samples to 40 keeps the first 20; a list is
then a choice. A random spec without `samples` is an error. Each point's hash covers its
vars and the stage graph, so that a resume can tell the same point from a changed one.
"""

from __future__ import annotations

import csv
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
from expman.text import split_commas

_RANGE = re.compile(
    r"^\s*(-?[0-9.eE+-]+?)\s*\.\.\s*(-?[0-9.eE+-]+?)\s*(?:\.\.\s*([0-9.eE+-]+)\s*)?$"
)
_CALL = re.compile(r"^\s*(uniform|loguniform|int|choice)\s*\((.*)\)\s*$", re.DOTALL)
MAX_POINTS = 1_000_000


@dataclass(frozen=True)
class Spec:
    """How one var is swept: `values` (a list, or a range spelled out) or a random `kind`
    with its arguments."""

    name: str
    values: tuple[Any, ...] = ()
    kind: str | None = None  # uniform, loguniform, int, choice: random only
    args: tuple[Any, ...] = ()

    @property
    def random(self) -> bool:
        """Whether this spec draws at random (and needs `samples`)."""
        return self.kind is not None


@dataclass(frozen=True)
class Definition:
    """What a sweep covers: its specs, or listed points; random `samples` and `seed`."""

    specs: tuple[Spec, ...] = ()
    samples: int | None = None
    seed: int = 0
    listed: tuple[Mapping[str, Any], ...] = ()

    def as_data(self) -> dict[str, Any]:
        """The definition as JSON-ready data (kept with the sweep)."""
        return {
            "specs": [
                {"name": s.name, "values": list(s.values), "kind": s.kind, "args": list(s.args)}
                for s in self.specs
            ],
            "samples": self.samples,
            "seed": self.seed,
            "listed": [dict(p) for p in self.listed],
        }


@dataclass(frozen=True)
class Point:
    """One point of the plan."""

    index: int
    vars: Mapping[str, Any]
    hash: str


def parse_spec(name: str, text: str) -> Spec:
    """One `NAME=SPEC` (see the module's words); `UsageError` saying what is wrong."""
    call = _CALL.match(text)
    if call:
        kind, inner = call.group(1), call.group(2)
        args = tuple(_typed(name, part) for part in split_commas(inner))
        return _checked_random(name, kind, args, text)
    ranged = _RANGE.match(text)
    if ranged and ".." in text:
        return Spec(name, _range(name, text, *ranged.groups()))
    values = tuple(_typed(name, part) for part in split_commas(text))
    if not values:
        raise UsageError(f"-s {name}={text}: no values")
    return Spec(name, values)


def spec_of(name: str, value: Any) -> Spec:
    """A spec from the expfile's `sweeps:`: a YAML list is a list of values, text is a
    spec as on the command line, anything else a single value."""
    if isinstance(value, list):
        if not value:
            raise UsageError(f"{name}: an empty list sweeps nothing")
        return Spec(name, tuple(value))
    if isinstance(value, str):
        return parse_spec(name, value)
    return Spec(name, (value,))


def points(definition: Definition, graph: str) -> list[Point]:
    """The plan: every point, in index order, each hashed with the stage graph `graph`."""
    if definition.listed:
        chosen = [dict(p) for p in definition.listed]
    elif definition.samples is not None:
        chosen = [draw(definition, i) for i in range(definition.samples)]
    else:
        randoms = [s.name for s in definition.specs if s.random]
        if randoms:
            raise UsageError(
                f"{', '.join(randoms)}: a random spec needs a number of points: --random N"
            )
        size = math.prod(len(s.values) for s in definition.specs)
        if size > MAX_POINTS:
            raise UsageError(f"the grid has {size:,} points: more than {MAX_POINTS:,}")
        names = [s.name for s in definition.specs]
        chosen = [
            dict(zip(names, combo, strict=True))
            for combo in itertools.product(*(s.values for s in definition.specs))
        ]
    return [Point(i, values, point_hash(values, graph)) for i, values in enumerate(chosen)]


def draw(definition: Definition, index: int) -> dict[str, Any]:
    """Random point `index`: a function of (seed, index) alone."""
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


def _checked_random(name: str, kind: str, args: tuple[Any, ...], text: str) -> Spec:
    where = f"-s {name}={text}"
    if kind == "choice":
        if not args:
            raise UsageError(f"{where}: choice() needs at least one value")
        return Spec(name, kind=kind, args=args)
    if len(args) != 2 or not all(_number(a) for a in args):
        raise UsageError(f"{where}: {kind}() takes two numbers, low and high")
    low, high = args
    if low > high:
        raise UsageError(f"{where}: the low end is above the high end")
    if kind == "loguniform" and low <= 0:
        raise UsageError(f"{where}: loguniform() needs numbers above 0")
    if kind == "int" and not all(isinstance(a, int) for a in args):
        raise UsageError(f"{where}: int() takes two integers")
    return Spec(name, kind=kind, args=(low, high))


def _range(name: str, text: str, low: str, high: str, step: str | None) -> tuple[Any, ...]:
    where = f"-s {name}={text}"
    first, last = _typed(name, low), _typed(name, high)
    by = _typed(name, step) if step else 1
    if not all(_number(v) for v in (first, last, by)) or by <= 0:
        raise UsageError(f"{where}: a range is LOW..HIGH or LOW..HIGH..STEP, STEP above 0")
    count = math.floor((last - first) / by + 1e-9) + 1
    if count < 1:
        raise UsageError(f"{where}: the range is empty")
    if count > MAX_POINTS:
        raise UsageError(f"{where}: more than {MAX_POINTS:,} values")
    if all(isinstance(v, int) for v in (first, last, by)):
        return tuple(first + i * by for i in range(count))
    return tuple(round(first + i * by, 12) for i in range(count))


def _typed(name: str, text: str) -> Any:
    """A value typed as every value expman reads (YAML 1.2's core schema)."""
    from expman import yamlnodes  # here: readers of sweeps (watch, status) need no YAML

    try:
        node = yamlnodes.compose(text.strip())
    except yamlnodes.SyntaxProblem:
        return text.strip()
    if node is None:
        raise UsageError(f"-s {name}: an empty value")
    if yamlnodes.check(node):
        raise UsageError(f"-s {name}: {text!r}: use plain values (no tags or anchors)")
    return yamlnodes.construct(node)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def read_points(text: str, filename: str, names: Sequence[str]) -> tuple[dict[str, Any], ...]:
    """Listed points: CSV with a header of var names (values typed as everywhere), or
    JSON Lines (`.jsonl`), one object a line. `names` are the experiment's vars; errors
    say `file:line`."""
    rows: list[dict[str, Any]] = []
    if filename.endswith(".jsonl"):
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as e:
                raise UsageError(f"{filename}:{number}: not JSON: {e}") from e
            if not isinstance(row, dict):
                raise UsageError(f"{filename}:{number}: a point is a JSON object")
            rows.append(_known(row, filename, number, names))
    else:
        lines = [line for line in text.splitlines() if line.strip()]
        if not lines:
            raise UsageError(f"{filename}: no header line (the var names)")
        header = [h.strip() for h in next(csv.reader([lines[0]]))]
        for number, cells in enumerate(csv.reader(lines[1:]), start=2):
            if len(cells) != len(header):
                raise UsageError(f"{filename}:{number}: {len(cells)} values for {len(header)} vars")
            row = {name: _typed(name, cell) for name, cell in zip(header, cells, strict=True)}
            rows.append(_known(row, filename, number, names))
    if not rows:
        raise UsageError(f"{filename}: no points")
    return tuple(rows)


def _known(row: dict[str, Any], filename: str, number: int, names: Sequence[str]) -> dict[str, Any]:
    unknown = [name for name in row if name not in names]
    if unknown:
        known = ", ".join(names) or "none"
        raise UsageError(f"{filename}:{number}: no var named {unknown[0]!r} (vars: {known})")
    return row

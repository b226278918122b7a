"""What a sweep covers, from what a person gives: `-s NAME=SPEC` items, a sweep named
under `sweeps:` in the expfile (`-s` replaces its spec of a var), a points file (CSV or
JSON Lines), or `--random N` extending a random sweep. Each becomes a `plan.Definition`,
and `plan` makes the points.

Problems are said where they are: a named sweep's as every expfile problem is
(`expfile.yaml:LINE:COL: $.sweeps.NAME.vars.X: ...`), a points file's with its file and
line. A points file is untrusted text: any bytes give points or such a message.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expman.errors import ArchiveError, ConfigError, Problem, UsageError
from expman.expfile.limits import number_problem
from expman.expfile.model import Config
from expman.sweeps import plan
from expman.sweeps.search_definition import Asked, Search, SearchError, check_specs, merged
from expman.sweeps.values import BadValue, checked, identity, shown, typed


@dataclass(frozen=True)
class Request:
    """What the command line asks of a new sweep."""

    name: str | None = None  # a sweep named in the expfile
    specs: Sequence[str] = ()  # -s NAME=SPEC
    samples: int | None = None  # --random N
    seed: int | None = None
    points_file: Path | None = None
    search: Asked = field(default_factory=Asked)  # --search, --trials, --objective, --direction


@dataclass(frozen=True)
class Planned:
    """A new sweep's definition and points, and the hypothesis its expfile entry gives."""

    definition: plan.Definition
    points: list[plan.Point]
    hypothesis: str | None = None


def planned(config: Config, display: str, graph: str, request: Request) -> Planned:
    """The definition and points `request` asks for; `UsageError` (a `ConfigError` for a
    named sweep's own problems) when they are not a plan of distinct points."""
    if request.points_file is not None:
        chosen = request.specs or request.samples is not None or request.name is not None
        if chosen or request.search.given():
            raise UsageError(
                "--points lists the points: give no -s, --random, --search or sweep name"
            )
        listed = read_points(_text_of(request.points_file), str(request.points_file), config.vars)
        definition = plan.Definition(listed=listed)
        return Planned(definition, plan.points(definition, graph))
    given = [_command_line_spec(config, item) for item in request.specs]
    found = _search(config, display, request)
    if found is not None:
        return _searched(config, display, request, given, found)
    if request.name is None:
        if not given:
            raise UsageError("nothing to sweep: give -s NAME=VALUES, or --points FILE")
        definition = plan.Definition(tuple(given), request.samples, request.seed or 0)
        return Planned(definition, plan.points(definition, graph))
    named = _named(config, request.name)
    with _located(config, display, request.name, given, request.samples):
        definition = _named_definition(named, given, request.samples, request.seed)
        return Planned(definition, plan.points(definition, graph), named.get("hypothesis"))


def _search(config: Config, display: str, request: Request) -> Search | None:
    """The adaptive search asked for: the command line's options over the named sweep's
    `search:` block (whose own problems are said at their place); None: no search."""
    named = _named(config, request.name) if request.name is not None else {}
    block = named.get("search")
    if block is None and not request.search.given():
        return None
    if block is None and request.search.sampler is None:
        raise UsageError(
            "--trials, --objective and --direction go with --search SAMPLER "
            "(or a named sweep's `search:`)"
        )
    if block is not None and request.name is not None:
        problem = _search_problem(named)
        if problem is not None:
            raise ConfigError([_problem(config, display, request.name, problem)])
    seed = request.seed if request.seed is not None else named.get("seed")
    return merged(request.search, block, seed)


def _search_problem(named: Mapping[str, Any]) -> plan.PlanError | None:
    """What is wrong with a named sweep's own `search:` block (None: nothing)."""
    if "random" in named:
        return plan.PlanError("a sweep draws its points one way: `random` or `search`", ("search",))
    try:
        merged(Asked(), named["search"], None)
    except SearchError as e:
        return plan.PlanError(e.problem, ("search", e.key))
    return None


def _searched(
    config: Config, display: str, request: Request, given: Sequence[plan.Spec], found: Search
) -> Planned:
    """An adaptive search's definition: its specs (the command line's, or the named
    sweep's with the command line's in their place) and the search; no point yet."""
    if request.samples is not None:
        raise UsageError("--random and --search: a sweep draws its points one way")
    if request.name is None:
        check_specs(given)
        return Planned(plan.Definition(tuple(given), search=found.as_data()), [])
    named = _named(config, request.name)
    with _located(config, display, request.name, given, None):
        specs = _named_definition(named, given, None, None).specs
        check_specs(specs)
    definition = plan.Definition(specs, search=found.as_data())
    return Planned(definition, [], named.get("hypothesis"))


def named_problems(config: Config, display: str) -> list[Problem]:
    """The problems of every sweep named in the expfile, located (drawing no point)."""
    found = []
    for name, named in config.sweeps.items():
        try:
            definition = _named_definition(named, [], None, None)
            if "search" in named:
                problem = _search_problem(named)
                if problem is not None:
                    raise problem
                check_specs(definition.specs)
            else:
                plan.check(definition)
        except plan.PlanError as e:
            found.append(_problem(config, display, name, e))
    return found


def extended(stored: Mapping[str, Any], samples: int) -> plan.Definition:
    """A random sweep's stored definition, with `samples` points."""
    if stored.get("samples") is None:
        raise UsageError("--random extends a random sweep; this one is a grid or listed points")
    try:
        specs = tuple(
            plan.Spec(s["name"], tuple(s["values"]), s["kind"], tuple(s["args"]), s.get("text", ""))
            for s in stored["specs"]
        )
        return plan.Definition(specs=specs, samples=samples, seed=int(stored["seed"]))
    except (KeyError, TypeError, ValueError) as e:
        raise ArchiveError(f"the sweep's stored definition is damaged: {e!r}") from e


MAX_POINTS_BYTES = 256 * 1024 * 1024  # a points file larger than this is no points file

_Rows = list[tuple[str, str, dict[str, Any]]]  # where (`file:line`), its name ("line 4"), point


def read_points(
    text: str, filename: str, variables: Mapping[str, Any]
) -> tuple[dict[str, Any], ...]:
    """Listed points: CSV with a header of var names (values typed as everywhere), JSON
    Lines (`.jsonl`, one object a line) or JSON (`.json`, a list of objects, as pandas
    writes records). `variables` are the experiment's vars and their values, which a point
    that leaves a var out runs with. Each point is distinct; errors say `file:line` (in
    JSON, `file: point N`). A byte order mark, as spreadsheets write, is no part of it."""
    text = text.removeprefix("\ufeff")
    if filename.endswith(".jsonl"):
        rows = _jsonl_rows(text, filename)
    elif filename.endswith(".json"):
        rows = _json_rows(text, filename)
    else:
        rows = _csv_rows(text, filename)
    seen: dict[str, str] = {}
    for where, name, row in rows:
        unknown = [var for var in row if var not in variables]
        if unknown:
            known = ", ".join(variables) or "none"
            raise UsageError(f"{where}: no var named {unknown[0]!r} (vars: {known})")
        earlier = seen.setdefault(identity({**variables, **row}), name)
        if earlier != name:
            values = ", ".join(f"{k}={shown(v)}" for k, v in row.items())
            raise UsageError(f"{where}: the same point as {earlier} ({values})")
    if not rows:
        raise UsageError(f"{filename}: no points")
    if len(rows) > plan.MAX_POINTS:
        raise UsageError(f"{filename}: more than {plan.MAX_POINTS:,} points")
    return tuple(row for _, _, row in rows)


def _text_of(path: Path) -> str:
    """The points file's text; read whole, up to `MAX_POINTS_BYTES` (a pipe such as
    `<(...)` is fine, `/dev/zero` is refused rather than read into memory)."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_POINTS_BYTES + 1)
    except OSError as e:
        raise UsageError(f"--points {path}: {e.strerror or e}") from e
    if len(raw) > MAX_POINTS_BYTES:
        raise UsageError(f"--points {path}: larger than {MAX_POINTS_BYTES // 2**20} MiB")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise UsageError(f"{path}:{line}: not UTF-8 text") from e


class _Repeated(Exception):
    """A key given twice in one JSON object."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _Repeated(key)
        found[key] = value
    return found


def _json_float(text: str) -> float:
    """A JSON number with a fraction or exponent (or NaN, Infinity: refused), checked as
    the expfile's numbers are."""
    value = float(text)
    problem = number_problem(value, text)
    if problem:
        raise BadValue(problem)
    return value


def _json_int(text: str) -> int:
    _json_float(text)  # before `int`, which refuses more than 4,300 digits
    return int(text)


def _jsonl_rows(text: str, filename: str) -> _Rows:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            where = f"{filename}:{number}"
            rows.append((where, f"line {number}", _point(_json(line, where), where)))
    return rows


def _json_rows(text: str, filename: str) -> _Rows:
    listed = _json(text, filename)
    if not isinstance(listed, list):
        raise UsageError(
            f"{filename}: a JSON points file is a list of points, "
            '[{"LR": 0.1}, {"LR": 0.2}] (or JSON Lines, .jsonl: one object a line)'
        )
    rows = []
    for number, value in enumerate(listed, start=1):
        where = f"{filename}: point {number}"
        rows.append((where, f"point {number}", _point(value, where)))
    return rows


def _json(text: str, where: str) -> Any:
    """JSON text, its numbers checked as the expfile's are."""
    try:
        return json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_float=_json_float,
            parse_int=_json_int,
            parse_constant=_json_float,
        )
    except _Repeated as e:
        raise UsageError(f"{where}: {e} is given twice") from e
    except BadValue as e:
        raise UsageError(f"{where}: {e}") from e
    except RecursionError as e:
        raise UsageError(f"{where}: nested too deeply") from e
    except ValueError as e:
        raise UsageError(f"{where}: not JSON: {e}") from e


def _point(row: Any, where: str) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise UsageError(f"{where}: a point is a JSON object")
    for name, value in row.items():
        try:
            checked(value)
        except BadValue as e:
            raise UsageError(f"{where}: {name}: {e}") from e
    return row


def _csv_rows(text: str, filename: str) -> _Rows:
    reader = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    rows = []
    try:
        for cells in reader:
            number = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header = [cell.strip() for cell in cells]
                repeated = [name for i, name in enumerate(header) if name in header[:i]]
                if repeated:
                    raise UsageError(
                        f"{filename}:{number}: the column {repeated[0]} is given twice"
                    )
                continue
            if len(cells) != len(header):
                raise UsageError(f"{filename}:{number}: {len(cells)} values for {len(header)} vars")
            where = f"{filename}:{number}"
            rows.append((where, f"line {number}", _typed_row(header, cells, where)))
    except csv.Error as e:
        raise UsageError(f"{filename}:{reader.line_num}: not CSV: {e}") from e
    if header is None:
        raise UsageError(f"{filename}: no header line (the var names)")
    return rows


def _typed_row(header: list[str], cells: list[str], where: str) -> dict[str, Any]:
    row = {}
    for name, cell in zip(header, cells, strict=True):
        try:
            row[name] = typed(cell)
        except BadValue as e:
            raise UsageError(f"{where}: {name}: {e}") from e
    return row


def _command_line_spec(config: Config, item: str) -> plan.Spec:
    name, sep, text = item.partition("=")
    if not sep or not name:
        raise UsageError(f"-s {item}: expected NAME=VALUES")
    if name not in config.vars:
        known = ", ".join(sorted(config.vars)) or "none"
        raise UsageError(f"-s {item}: no var named '{name}' in the expfile (vars: {known})")
    return plan.parse_spec(name, text)


def _named(config: Config, name: str) -> dict[str, Any]:
    found = config.sweeps.get(name)
    if not isinstance(found, dict):
        known = ", ".join(sorted(config.sweeps)) or "none: add them under `sweeps:`"
        raise UsageError(f"no sweep named '{name}' in the expfile (sweeps: {known})")
    return found


def _named_definition(
    named: Mapping[str, Any], given: Sequence[plan.Spec], samples: int | None, seed: int | None
) -> plan.Definition:
    """A named sweep's definition, the command line's specs in place of its own for the
    same vars, and its `random` and `seed` unless the command line gives them."""
    swept = named["vars"]
    overridden = {spec.name for spec in given}
    specs: list[plan.Spec] = []
    for var, value in swept.items():
        if var in overridden:
            specs += [spec for spec in given if spec.name == var]
        else:
            specs.append(plan.spec_of(var, value))
    specs += [spec for spec in given if spec.name not in swept]
    return plan.Definition(
        tuple(specs),
        samples if samples is not None else named.get("random"),
        seed if seed is not None else named.get("seed", 0),
    )


@contextlib.contextmanager
def _located(
    config: Config, display: str, name: str, given: Sequence[plan.Spec], samples: int | None
) -> Iterator[None]:
    """A problem of the named sweep's own definition (not of what the command line
    gave in its place) becomes a `ConfigError` at its place in the expfile."""
    try:
        yield
    except plan.PlanError as e:
        where, overridden = e.where, {spec.name for spec in given}
        from_file = (
            where == ()
            or (where == ("random",) and samples is None)
            or (where[:1] == ("vars",) and where[1] not in overridden)
        )
        if not from_file:
            raise
        raise ConfigError([_problem(config, display, name, e)]) from e


def _problem(config: Config, display: str, name: str, error: plan.PlanError) -> Problem:
    from expman.expfile import yamlnodes

    path = ("sweeps", name, *error.where)
    line, column = yamlnodes.locate(yamlnodes.compose(config.text), path)
    return Problem(display, line, column, yamlnodes.json_path(path), error.problem, error.hint)

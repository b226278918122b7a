"""Read expfile.yaml, validate it against the schema, and build the typed `Config`.

Every problem is collected and reported at once, each located by line, column and
JSON path (`errors.Problem`). Nothing here prints or exits.
"""

from __future__ import annotations

import functools
import hashlib
import json
import posixpath
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from expman import __version__
from expman.errors import ConfigError, Problem, UsageError
from expman.expfile import rules
from expman.expfile.location import DEFAULT_ARCHIVE
from expman.expfile.model import Config, Step, env_text
from expman.text import did_you_mean

SCHEMA_FILE = "expfile.schema.json"

if TYPE_CHECKING:
    import jsonschema

    from expman.expfile import yamlnodes


class ValidationCache(Protocol):
    """Digests of (schema, expfile text, overrides) that passed schema validation.

    Validation depends on nothing else, so a known digest needs no validation, and
    commands that run often skip importing jsonschema (the largest part of start-up).
    The document a known-valid expfile parsed to is kept too (`document`), so that they
    skip YAML as well while the expfile is unchanged.
    """

    def known(self, digest: str) -> bool: ...

    def add(self, digest: str) -> None: ...

    def document(self, digest: str) -> Any: ...

    def keep_document(self, digest: str, document: str) -> None: ...


def schema_path() -> Path:
    """Where the schema lives: inside the installed package, or at the source tree's top."""
    packaged = Path(__file__).parent / SCHEMA_FILE
    if packaged.is_file():
        return packaged
    return Path(__file__).resolve().parents[2] / SCHEMA_FILE  # an editable install


@functools.lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The expfile schema as data."""
    return json.loads(schema_path().read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def load(
    path: Path,
    display: str | None = None,
    overrides: Sequence[str] = (),
    cache: ValidationCache | None = None,
) -> Config:
    """Read, validate and model the expfile at `path`; `display` names it in messages."""
    name = display or str(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise UsageError(f"{name}: cannot read the expfile: {e.strerror or e}") from e
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        column = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise ConfigError([Problem(name, line, column, "$", "not UTF-8 text")]) from e
    return parse(text, name, overrides, root=path.resolve().parent, cache=cache)


def parse(
    text: str,
    filename: str,
    overrides: Sequence[str] = (),
    root: Path | None = None,
    cache: ValidationCache | None = None,
) -> Config:
    """Validate expfile `text` and build its model, with `NAME=VALUE` overrides applied.

    With `root`, checks that need the file system (scripts exist) are made against it.
    """
    known = _known_document(text, overrides, root, cache)
    if known is not None:
        data, values = known
        return _model(
            data, text, Path(filename) if root is None else root / Path(filename).name, values
        )
    from expman.expfile import yamlnodes

    try:
        node = yamlnodes.compose(text)
    except yamlnodes.SyntaxProblem as e:
        hint = _quoting_hint(text, e)
        raise ConfigError([Problem(filename, e.line, e.column, "$", e.message, hint)]) from e
    if node is None:
        raise ConfigError([Problem(filename, 1, 1, "$", "the expfile is empty")])
    node_problems = yamlnodes.check(node)
    problems = [
        Problem(filename, p.line, p.column, yamlnodes.json_path(p.path), p.message)
        for p in node_problems
    ]
    if any(p.fatal for p in node_problems):
        raise ConfigError(problems)
    data = yamlnodes.construct(node)
    document = json.dumps(data, ensure_ascii=False)  # before overrides: the file's own
    values = parse_overrides(overrides, data)
    if values:
        data["vars"] = {**data["vars"], **values}
    digest = _digest(text, values)
    # Overrides only replace vars, with values of the types the schema allows every var
    # (`parse_overrides` makes sure): the expfile known valid without them is valid with.
    skip_schema = (
        not problems
        and cache is not None
        and (cache.known(digest) or (bool(values) and cache.known(_digest(text, {}))))
    )
    found = [] if skip_schema else list(_schema_problems(data))
    problems += [
        Problem(filename, *yamlnodes.locate(node, path), yamlnodes.json_path(path), msg, hint)
        for path, msg, hint in [*found, *rules.problems(data, root)]
    ]
    if problems:
        raise ConfigError(problems)
    if cache is not None and not skip_schema:
        cache.add(digest)
    if cache is not None and not values:
        cache.keep_document(_document_key(digest), document)
    return _model(
        data, text, Path(filename) if root is None else root / Path(filename).name, values
    )


def _known_document(
    text: str, overrides: Sequence[str], root: Path | None, cache: ValidationCache | None
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The document and override values of an expfile known valid, without YAML (only
    the overrides are typed by it); None when it is not known, or when something around
    it (a script removed) now makes it invalid: the full path then says where."""
    if cache is None:
        return None
    digest = _digest(text, {})
    data = cache.document(_document_key(digest))
    if not isinstance(data, dict) or not cache.known(digest):
        return None
    values = parse_overrides(overrides, data)
    if values:
        data["vars"] = {**data["vars"], **values}
    if next(iter(rules.problems(data, root)), None) is not None:
        return None
    return data, values


_PLAIN_VALUE = re.compile(r"^(\s*(?:- )?[^\s:#'\"][^:#]*:\s+)([^'\"\[{].*?)\s*$")


def _quoting_hint(text: str, problem: yamlnodes.SyntaxProblem) -> str | None:
    """`key: a: b` (a colon and a space inside a plain value): the line, quoted."""
    if not problem.message.startswith("mapping values are not allowed"):
        return None
    lines = text.splitlines()
    line = lines[problem.line - 1] if 0 < problem.line <= len(lines) else ""
    found = _PLAIN_VALUE.match(line)
    if found is None or " #" in found[2]:
        return None
    return f"quote the value: {found[1].strip()} {json.dumps(found[2], ensure_ascii=False)}"


def parse_overrides(overrides: Sequence[str], data: Any) -> dict[str, Any]:
    """`["LR=0.1"]` -> `{"LR": 0.1}`, each value typed as YAML would type it."""
    if not overrides:
        return {}
    from expman.expfile import yamlnodes

    known = data.get("vars") if isinstance(data, dict) else None
    known = known if isinstance(known, dict) else {}
    values: dict[str, Any] = {}
    for item in overrides:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise UsageError(f"-s {item}: expected NAME=VALUE")
        if name not in known:
            names = ", ".join(sorted(known)) or "none"
            raise UsageError(f"-s {item}: no var named '{name}' in the expfile (vars: {names})")
        try:
            node = yamlnodes.compose(raw)
        except yamlnodes.SyntaxProblem:
            node = None  # not YAML: take it as text
        problems = yamlnodes.check(node) if node is not None else []
        if problems:
            raise UsageError(f"-s {name}: {problems[0].message}")
        value = yamlnodes.construct(node) if node is not None else raw
        if value is None or not isinstance(value, str | int | float | list | dict):
            raise UsageError(
                f"-s {item}: a var's value must be text, a number, a boolean, a list or a mapping"
            )
        values[name] = value
    return values


_Found = rules.Found


def _digest(text: str, values: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(schema_path().read_bytes())
    digest.update(b"\0" + text.encode() + b"\0")
    digest.update(json.dumps(values, sort_keys=True).encode())
    return digest.hexdigest()


def _document_key(digest: str) -> str:
    """What a kept document is filed under: the expfile's digest, and the expman that
    parsed it (another version may type YAML values differently)."""
    return hashlib.sha256(f"{digest}\0{__version__}".encode()).hexdigest()


def _schema_problems(data: Any) -> Iterator[_Found]:
    import jsonschema  # here, not at the top: most commands find the expfile known-valid

    validator = jsonschema.Draft7Validator(schema())
    errors = list(validator.iter_errors(data))
    typed = {tuple(e.absolute_path) for e in errors if e.validator == "type"}
    reported: set[tuple[str | int, ...]] = set()
    for error in errors:
        path = tuple(error.absolute_path)
        if path in typed:
            # A value of the wrong type: one complaint says so, the others are noise.
            if error.validator != "type" or path in reported:
                continue
            reported.add(path)
        own = error.schema.get("errorMessage") if isinstance(error.schema, dict) else None
        if error.validator == "additionalProperties":
            yield from _unknown_keys(path, error.instance, error.schema)
        elif "propertyNames" in error.relative_schema_path:
            yield (*path, error.instance), f"'{error.instance}': {own or error.message}", None
        elif error.validator == "pattern" and own:
            yield path, f"'{error.instance}': {own}", None
        elif error.validator in ("not", "required") and own:
            yield path, own, None
        else:
            yield path, _yaml_words(error.message, error.instance), _type_hint(error)


def _yaml_words(message: str, instance: Any) -> str:
    """jsonschema quotes values as Python (`None`, `{'a': 1}`); say them as JSON/YAML."""
    shown = repr(instance)
    if not message.startswith(shown):
        return message
    text = json.dumps(instance, ensure_ascii=False)
    return (text if len(text) <= 60 else text[:57] + "...") + message[len(shown) :]


def _type_hint(error: jsonschema.ValidationError) -> str | None:
    path = tuple(error.absolute_path)
    stage = error.validator == "type" and path[:1] == ("stages",) and len(path) == 2
    if stage and isinstance(error.instance, str):
        return f"write the command as `cmd: {error.instance}`"
    return None


# Keys that belong elsewhere: said in a hint rather than "allowed keys: ...".
_MISPLACED = {
    "deps": "'deps' is for pre-run steps only: run, post-run and fetch always execute",
    "targets": "'targets' is for pre-run steps only: run, post-run and fetch always execute",
    "name": "only pre-run steps have names",
}


def _unknown_keys(
    path: tuple[str | int, ...], instance: Mapping[str, Any], subschema: Mapping[str, Any]
) -> Iterator[_Found]:
    allowed = list(subschema.get("properties", {}))
    for key in instance:
        if key in allowed:
            continue
        if key in _MISPLACED and "cmd" in allowed:
            hint = _MISPLACED[key]
        else:
            hint = did_you_mean(key, allowed) or "allowed keys: " + ", ".join(allowed)
        yield (*path, key), f"unknown key '{key}'", hint


SAMPLE_EVERY = 1.0  # the schema's default for `resources.every`


def _model(data: dict[str, Any], text: str, path: Path, overrides: dict[str, Any]) -> Config:
    variables = dict(data.get("vars") or {})
    steps = [_step(str(p[1]), raw) for p, raw in rules.raw_steps(data["stages"])]
    return Config(
        path=path,
        text=text,
        name=data["name"],
        description=data.get("description") or "",
        hypothesis=data.get("hypothesis") or "",
        observations=data.get("observations") or "",
        tags=tuple(data.get("tags") or ()),
        vars=variables,
        export=tuple(data["export"]) if "export" in data else tuple(variables),
        env={k: env_text(v) for k, v in (data.get("env") or {}).items()},
        steps=tuple(steps),
        metrics=data.get("metrics"),
        archive=posixpath.normpath(data.get("archive") or DEFAULT_ARCHIVE),
        overrides=overrides,
        sweeps=dict(data.get("sweeps") or {}),
        slurm=dict(data.get("slurm") or {}),
        data=tuple(posixpath.normpath(d) for d in data.get("data") or ()),
        sample_every=_sample_every(data.get("resources") or {}),
    )


def _sample_every(section: dict[str, Any]) -> float | None:
    """Seconds between samples of the run's processes; None: not sampled."""
    if section.get("sample", True) is False:
        return None
    return float(section.get("every", SAMPLE_EVERY))


def _step(stage: str, raw: dict[str, Any]) -> Step:
    return Step(
        stage=stage,
        name=raw.get("name", stage),
        cmd=raw.get("cmd"),
        script=posixpath.normpath(raw["script"]) if "script" in raw else None,
        args=tuple(raw.get("args") or ()),
        env={k: env_text(v) for k, v in (raw.get("env") or {}).items()},
        export=tuple(raw["export"]) if "export" in raw else None,
        deps=tuple(posixpath.normpath(d) for d in raw.get("deps") or ()),
        targets=tuple(posixpath.normpath(t) for t in raw.get("targets") or ()),
        description=raw.get("description") or "",
    )

"""YAML with positions: parse to a node tree, check it, locate JSON paths in it, edit it in place.

PyYAML's composed node tree keeps the line and column of every key and value. expman
uses it three ways: to point error messages at the right spot, to reject what plain
`safe_load` lets through (duplicate keys, non-text keys, alias bombs, non-JSON values),
and to change one value of a file while leaving every other byte as it was.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from expman.expfile import limits

JsonPath = Sequence[str | int]

# Aliases let a small file expand into a huge tree ("billion laughs"). No expfile needs
# more than a few thousand nodes; the limit stops the expansion before anything walks it.
MAX_EXPANDED_NODES = 100_000
# Lists and mappings nested deeper than this are refused: no expfile needs it, and JSON
# tools (Python's json among them) fail on records nested a few hundred levels deep.
MAX_DEPTH = limits.MAX_DEPTH

_STR = "tag:yaml.org,2002:str"
_JSON_SCALAR_TAGS = frozenset(
    ["tag:yaml.org,2002:" + t for t in ("str", "int", "float", "bool", "null")]
)
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_SEQ = "tag:yaml.org,2002:seq"
_PLAIN = "plain values only (text, numbers, booleans, lists, mappings)"
_MAP = "tag:yaml.org,2002:map"
_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc]
    """Safe loader typing plain values by YAML 1.2's core schema, as editors' YAML language
    servers do: `1e-3` is a number, `010` is 10, `yes`, `on` and dates are text."""


# YAML 1.2 core schema (yaml.org/spec/1.2.2, 10.3.2), in place of PyYAML's YAML 1.1 rules.
_CORE = [
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("null", r"^(?:~|null|Null|NULL|)$", "~nN"),
    ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+.0123456789",
    ),
]
_CORE_PATTERNS = {f"tag:yaml.org,2002:{name}": re.compile(pattern) for name, pattern, _ in _CORE}
_Loader.yaml_implicit_resolvers = {}
for _name, _pattern, _first in _CORE:
    _Loader.add_implicit_resolver(f"tag:yaml.org,2002:{_name}", re.compile(_pattern), list(_first))
_Loader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^$"), [""])


def _core_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)  # 010 is ten: YAML 1.2 has no octal without `0o`


def _core_bool(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> bool:
    return str(loader.construct_scalar(node)).lower() == "true"


_Loader.add_constructor(_INT, _core_int)
_Loader.add_constructor("tag:yaml.org,2002:bool", _core_bool)


@dataclass(frozen=True)
class NodeProblem:
    """A problem found in the node tree, before any schema is applied."""

    line: int
    column: int
    path: tuple[str | int, ...]
    message: str
    fatal: bool = True  # False: the document can still be loaded and validated


class SyntaxProblem(Exception):
    """The text is not YAML; `line` and `column` are 1-based."""

    def __init__(self, line: int, column: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.column = column
        self.message = message


def compose(text: str) -> yaml.Node | None:
    """Parse `text` into a node tree (None for an empty document)."""
    loader = _Loader(text)
    try:
        return loader.get_single_node()  # type: ignore[no-any-return]
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise SyntaxProblem(line, column, _syntax_message(e, text)) from e
    except RecursionError as e:
        raise SyntaxProblem(1, 1, f"nested too deeply (more than {MAX_DEPTH} levels)") from e
    except yaml.YAMLError as e:  # ReaderError: a character YAML does not allow
        position = getattr(e, "position", 0)
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        raise SyntaxProblem(line, column, str(getattr(e, "reason", e))) from e
    finally:
        loader.dispose()


def _syntax_message(error: yaml.MarkedYAMLError, text: str) -> str:
    mark = error.problem_mark
    if mark is not None and text[mark.index : mark.index + 1] == "\t":
        return "a tab character: YAML indents with spaces only"
    message = str(error.problem or "not valid YAML")
    if error.context and error.context_mark is not None:
        message += f" ({error.context} that starts on line {error.context_mark.line + 1})"
    elif error.context:
        message += f" ({error.context})"
    return message


def construct(node: yaml.Node) -> Any:
    """Build Python data from a node tree that `check` found clean."""
    loader = _Loader("")
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()


def check(root: yaml.Node) -> list[NodeProblem]:
    """Problems plain YAML loading hides: duplicate and non-text keys, non-JSON values."""
    try:
        size = expanded_size(root, {})
    except RecursionError:
        return [NodeProblem(1, 1, (), f"nested too deeply (more than {MAX_DEPTH} levels)")]
    if size > MAX_EXPANDED_NODES:
        return [
            NodeProblem(
                1,
                1,
                (),
                f"the document expands to more than {MAX_EXPANDED_NODES:,} nodes through "
                "aliases; expand them by hand if this is intended",
            )
        ]
    problems: list[NodeProblem] = []
    seen: set[int] = set()
    for node, path in _walk(root, ()):
        if id(node) in seen:
            continue
        seen.add(id(node))
        problems.extend(_check_node(node, path))
    return problems


def _check_node(node: yaml.Node, path: tuple[str | int, ...]) -> Iterator[NodeProblem]:
    if isinstance(node, yaml.ScalarNode):
        if node.tag not in _JSON_SCALAR_TAGS:
            yield _at(node, path, f"the tag {_short(node.tag)} is not allowed: {_PLAIN}")
        elif node.tag in (_INT, _FLOAT):
            problem = _number_problem(node)
            if problem:
                yield _at(node, path, problem)
    elif isinstance(node, yaml.SequenceNode):
        if node.tag != _SEQ:
            yield _at(node, path, f"the tag {_short(node.tag)} is not allowed: {_PLAIN}")
    elif isinstance(node, yaml.MappingNode):
        if node.tag != _MAP:
            yield _at(node, path, f"the tag {_short(node.tag)} is not allowed: {_PLAIN}")
        first_seen: dict[str, yaml.Node] = {}
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag != _STR:
                shown = key.value if isinstance(key, yaml.ScalarNode) else "a collection"
                yield _at(key, path, f"the key {shown} is not text; quote it: '{shown}'")
                continue
            if key.value == "<<":
                continue
            if key.value in first_seen:
                first = first_seen[key.value].start_mark.line + 1
                message = f"duplicate key (first defined on line {first})"
                yield _at(key, (*path, key.value), message, fatal=False)
            else:
                first_seen[key.value] = key


def _short(tag: str) -> str:
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml") else tag


def _number_problem(node: yaml.ScalarNode) -> str | None:
    """What is wrong with an int or float scalar: text that is no number of its kind (a
    tag written by hand: `!!int abc`), or a number no value can be."""
    if not _CORE_PATTERNS[node.tag].match(node.value):
        kind = "an integer" if node.tag == _INT else "a number"
        return f"'{limits.excerpt(node.value)}' is not {kind} (the tag {_short(node.tag)})"
    return limits.number_problem(_number(node), node.value)


def _number(node: yaml.ScalarNode) -> float:
    """The number a core-schema int or float scalar stands for, without building an int
    of its decimal digits (Python refuses more than 4,300 of them; `float` does not)."""
    text = node.value.lower()
    if node.tag == _INT and text.startswith(("0x", "0o")):
        return int(text[2:], 16 if text[1] == "x" else 8)  # powers of two: no limit
    if text.lstrip("+-") == ".inf":
        return -math.inf if text.startswith("-") else math.inf
    if text == ".nan":
        return math.nan
    return float(text)


def _at(
    node: yaml.Node, path: tuple[str | int, ...], message: str, fatal: bool = True
) -> NodeProblem:
    mark = node.start_mark
    return NodeProblem(mark.line + 1, mark.column + 1, path, message, fatal)


def expanded_size(node: yaml.Node, memo: dict[int, int] | None = None) -> int:
    """How many nodes `node` stands for once its aliases are expanded (capped)."""
    memo = {} if memo is None else memo
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = MAX_EXPANDED_NODES + 1  # a cycle counts as too big
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(expanded_size(child, memo) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(
            expanded_size(key, memo) + expanded_size(value, memo) for key, value in node.value
        )
    else:
        size = 1
    memo[id(node)] = min(size, MAX_EXPANDED_NODES + 1)
    return memo[id(node)]


def _walk(
    node: yaml.Node, path: tuple[str | int, ...]
) -> Iterator[tuple[yaml.Node, tuple[str | int, ...]]]:
    yield node, path
    if isinstance(node, yaml.SequenceNode):
        for index, child in enumerate(node.value):
            yield from _walk(child, (*path, index))
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield from _walk(value, (*path, key.value if isinstance(key, yaml.ScalarNode) else "?"))


def child(node: yaml.Node, step: str | int) -> tuple[yaml.Node, yaml.Node] | None:
    """The (key node, value node) of `step` below `node`; the key is the item for lists."""
    if isinstance(node, yaml.MappingNode) and isinstance(step, str):
        for key, value in reversed(node.value):  # the last duplicate wins, as in loading
            if isinstance(key, yaml.ScalarNode) and key.value == step:
                return key, value
    elif (
        isinstance(node, yaml.SequenceNode)
        and isinstance(step, int)
        and 0 <= step < len(node.value)
    ):
        return node.value[step], node.value[step]
    return None


def locate(root: yaml.Node | None, path: JsonPath) -> tuple[int, int]:
    """1-based (line, column) of the key naming `path`, or of the deepest part that exists."""
    if root is None:
        return 1, 1
    mark = root.start_mark
    node = root
    for step in path:
        found = child(node, step)
        if found is None:
            break
        key, node = found
        mark = key.start_mark
    return mark.line + 1, mark.column + 1


def json_path(path: JsonPath) -> str:
    """`$.stages.pre-run[1].deps`: the notation of jsonschema's `ValidationError.json_path`."""
    text = "$"
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else f".{step}"
    return text


def replace_value(text: str, root: yaml.Node, path: JsonPath, value: Any) -> str:
    """`text` with the value at `path` replaced by `value`, every other byte unchanged.

    The new value is written in JSON's flow syntax, which is also YAML. A block scalar
    (`|` or `>`) ends with its line break, so the replacement keeps one.
    """
    node = root
    for step in path:
        found = child(node, step)
        if found is None:
            raise KeyError(json_path(path))
        node = found[1]
    start, end = node.start_mark.index, node.end_mark.index
    new = json.dumps(value, ensure_ascii=False)
    if isinstance(node, yaml.ScalarNode) and node.style in ("|", ">"):
        old = text[start:end]
        end = start + len(old.rstrip("\n")) + (1 if old.endswith("\n") else 0)
        new += "\n"
    elif isinstance(node, yaml.ScalarNode) and node.style in (None, "") and start == end:
        new = " " + new  # `key:` with nothing after it
    return text[:start] + new + text[end:]

"""The expfile's rules that a JSON Schema cannot say: cross-references (export names a var),
uniqueness (step names, targets), files that must exist or stay inside the experiment,
where the archive may be, and text no process can receive. Each problem is a JSON path,
a message and an optional hint; `loading` locates and reports them.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import posixpath
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from expman import fsutil
from expman.expfile.limits import MAX_DEPTH
from expman.expfile.stages import STAGES
from expman.text import did_you_mean

Found = tuple[tuple[str | int, ...], str, "str | None"]
_RESERVED_DIRS = ("outputs", ".expman")
_NOT_DATA = {
    ".expman": "expman's working state",
    "outputs": "where fetch puts the run's outputs",
    ".git": "git's own",
}


def problems(data: Any, root: Path | None) -> Iterator[Found]:
    """What the schema cannot say: cross-references, uniqueness, files that must exist."""
    if not isinstance(data, dict):
        return
    variables = data.get("vars")
    names = list(variables) if isinstance(variables, dict) else []
    yield from _unknown_vars(("export",), data.get("export"), names)
    archive = data.get("archive")
    if isinstance(archive, str) and "\0" not in archive:  # a NUL is said below
        yield from _archive_problems(archive, root)
    yield from _text_problems(data, ())
    sweeps = data.get("sweeps")
    for name, sweep in sweeps.items() if isinstance(sweeps, dict) else []:
        swept = sweep.get("vars") if isinstance(sweep, dict) else None
        for var in swept if isinstance(swept, dict) else []:
            if var not in names:
                hint = did_you_mean(var, names)
                yield ("sweeps", name, "vars", var), f"'{var}' is not a var", hint
    stages = data.get("stages")
    if isinstance(stages, dict):
        yield from _step_problems(stages, root, names)
    listed = data.get("data")
    for index, entry in enumerate(listed if isinstance(listed, list) else []):
        if isinstance(entry, str) and entry and "\0" not in entry:
            problem = _data_problem(entry, data, root)
            if problem is not None:
                yield ("data", index), *problem


def _archive_problems(archive: str, root: Path | None) -> Iterator[Found]:
    normal = posixpath.normpath(archive)
    if normal == "." or normal.split("/")[0] in _RESERVED_DIRS:
        yield ("archive",), f"'{archive}' cannot hold the archive: it is used by expman", None
        return
    if root is None:
        return
    folder = Path(os.path.abspath(root / normal))  # noqa: PTH100 - no symlink resolution
    if folder == Path(folder.anchor):
        yield ("archive",), f"'{archive}' is the root of the file system", None
    elif folder.exists() and not folder.is_dir():
        yield ("archive",), f"'{archive}' is a file, not a folder", None
    elif root.resolve().is_relative_to(folder.resolve()):
        message = f"'{archive}' holds the experiment itself: name a folder beside or inside it"
        yield ("archive",), message, None


def _text_problems(value: Any, path: tuple[str | int, ...]) -> Iterator[Found]:
    """Text no process can receive (NUL), and nesting deeper than anything needs."""
    if len(path) > MAX_DEPTH:
        yield path, f"nested more than {MAX_DEPTH} levels deep", None
    elif isinstance(value, str):
        if "\0" in value:
            message = "contains a NUL character, which no command line or environment can hold"
            yield path, message, None
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _text_problems(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _text_problems(item, (*path, index))


def _unknown_vars(path: tuple[str | int, ...], listed: Any, names: list[str]) -> Iterator[Found]:
    for index, name in enumerate(listed if isinstance(listed, list) else []):
        if isinstance(name, str) and name not in names:
            hint = did_you_mean(name, names)
            yield (*path, index), f"'{name}' is not a var", hint


def _step_problems(
    stages: dict[str, Any], root: Path | None, var_names: list[str]
) -> Iterator[Found]:
    step_names: dict[str, int] = {}
    target_owner: dict[str, str] = {}
    for path, step in raw_steps(stages):
        if not isinstance(step, dict):
            continue
        yield from _unknown_vars((*path, "export"), step.get("export"), var_names)
        name = step.get("name")
        if path[1] == "pre-run" and len(path) == 3 and isinstance(name, str):
            if name in step_names:
                message = f"duplicate step name '{name}' (also step {step_names[name]})"
                yield (*path, "name"), message, None
            step_names.setdefault(name, int(path[2]))
        label = name if isinstance(name, str) else str(path[1])
        targets = step.get("targets")
        for index, target in enumerate(targets if isinstance(targets, list) else []):
            if not isinstance(target, str):
                continue
            normal = posixpath.normpath(target)
            if normal in target_owner:
                message = f"'{target}' is also a target of step '{target_owner[normal]}'"
                yield (*path, "targets", index), message, None
            target_owner.setdefault(normal, label)
        script = step.get("script")
        if isinstance(script, str):
            yield from _script_problems((*path, "script"), script, root)


def _script_problems(
    path: tuple[str | int, ...], script: str, root: Path | None
) -> Iterator[Found]:
    """A script must be a file inside the experiment: every run keeps a copy of it at its
    own path in the run folder, beside the code version it belongs to."""
    normal = posixpath.normpath(script)
    if posixpath.isabs(normal) or normal.split("/")[0] == "..":
        link = posixpath.basename(normal)
        yield (
            path,
            f"'{script}' is outside the experiment: a script must be inside it",
            f"link it in (`ln -s {script} {link}` in the experiment, then `script: {link}`): "
            "every run keeps a copy of what the link points to",
        )
    elif root is not None and not (root / normal).is_file():
        yield path, f"no such file: '{script}'", None


def _data_problem(
    entry: str, data: dict[str, Any], root: Path | None
) -> tuple[str, str | None] | None:
    """What is wrong with one `data:` entry: outside the experiment, expman's or git's own
    folders, a pre-run target (made in each workspace), or nothing that it names."""
    normal = posixpath.normpath(entry)
    if posixpath.isabs(normal) or normal.split("/")[0] == "..":
        base = posixpath.basename(normal)
        return (
            f"'{entry}' is outside the experiment: data must be inside it",
            f"link it in (`ln -s {entry} {base}` in the experiment, then list `{base}`), "
            "or give the stages its path in `env`",
        )
    archive = posixpath.normpath(data.get("archive") or "runs")
    owned = {".": "the whole experiment", **_NOT_DATA, archive: "the archive"}
    folder = next((f for f in owned if normal == f or fsutil.within(normal, f)), None)
    if folder is not None:
        return f"'{entry}' is {owned[folder]}, not data", None
    stages = data.get("stages")
    targets = _targets(stages) if isinstance(stages, dict) else {}
    owner = next((step for t, step in targets.items() if fsutil.within(normal, t)), None)
    if owner is not None:
        return (
            f"'{entry}' is a target of pre-run step '{owner}': each workspace makes its own",
            "list what the step reads, if it is data (its deps are shared already)",
        )
    fed = any(fnmatch.fnmatchcase(t, normal) or fsutil.within(t, normal) for t in targets)
    if root is not None and not fed and not _names_something(root, normal):
        return f"'{entry}' matches no file", None
    return None


def _names_something(root: Path, pattern: str) -> bool:
    """Whether `pattern` names a file or folder in `root` (a glob: its first match)."""
    if glob.has_magic(pattern):
        found = glob.iglob(pattern, root_dir=root, recursive=True)  # noqa: PTH207 - lazy
        return next(found, None) is not None
    return (root / pattern).exists()


def _targets(stages: dict[str, Any]) -> dict[str, str]:
    """Each pre-run target (normalised) and the name of the step that makes it."""
    found: dict[str, str] = {}
    for path, step in raw_steps(stages):
        if path[1] != "pre-run" or not isinstance(step, dict):
            continue
        listed = step.get("targets")
        for target in listed if isinstance(listed, list) else []:
            if isinstance(target, str) and target and "\0" not in target:
                found.setdefault(posixpath.normpath(target), str(step.get("name", "pre-run")))
    return found


def raw_steps(stages: dict[str, Any]) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Every step of `stages` with its JSON path: `(stages, run)` or `(stages, pre-run, 1)`."""
    for stage in STAGES:
        value = stages.get(stage)
        if isinstance(value, list):
            for index, step in enumerate(value):
                yield ("stages", stage, index), step
        elif value is not None:
            yield ("stages", stage), value

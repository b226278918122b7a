"""The files a run's record names with their hashes, and a run folder checked against them.

A record names the files it ran with and made, each with its SHA-256: `scripts` (in
`scripts/`), `snapshot` (the expfile, `code.patch`, `packages.json`, at the top of the run
folder) and `outputs` (in `outputs/`; an output archived as a symbolic link is named by
its target instead), and each earlier attempt the same in `attempts/N/`. A record may come
from elsewhere, so a name is a path only once it is checked to stay inside the run folder,
and a hash is a file name only once it is checked to be one. The files are opened one
folder at a time, never through a link. `pull` verifies an arriving run against these
names, `fsck` every run, and `rerun` the snapshot it is about to run.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from expman.store.objects import hash_open, open_folder, open_regular
from expman.store.storing import escape_name

MISSING = "missing"
MISMATCH = "it does not match its record"
_HASH = re.compile(r"^[0-9a-f]{64}\Z")


@dataclass(frozen=True)
class Named:
    """One file a record names: its path in the run folder, and its hash (or, for an
    output archived as a link, the link's target)."""

    path: str
    sha256: str | None
    link: str | None = None


def is_sha256(text: object) -> TypeGuard[str]:
    """Whether `text` is a SHA-256 in hex: the only form in which a hash is a file name."""
    return isinstance(text, str) and _HASH.match(text) is not None


def inside(path: object) -> TypeGuard[str]:
    """Whether `path` is a relative path that stays where it is put (no `..`, no `/` at
    its start, no empty or `.` part, no NUL): the only paths a record may name."""
    if not isinstance(path, str) or not path or "\0" in path or len(path) > 4096:
        return False
    return not any(part in ("", ".", "..") for part in path.split("/"))


def named(record: Mapping[str, Any]) -> list[Named]:
    """Every file `record` names; `ValueError` saying which field when one is no path
    inside the run folder or no hash (a damaged record, or one made to escape)."""
    found = snapshot(record) + _files(record.get("outputs"), "outputs/", "outputs")
    attempts = record.get("attempts") or []
    if not isinstance(attempts, list):
        raise ValueError("attempts is not a list")
    for position, attempt in enumerate(attempts[:-1]):  # the last one's are the run's own
        field = f"attempts[{position}]"
        number = attempt.get("number") if isinstance(attempt, dict) else None
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            raise ValueError(f"{field}.number is not an attempt's number")
        found += _snapshot(attempt, f"attempts/{number}/", field)
        found += _files(attempt.get("outputs"), f"attempts/{number}/outputs/", f"{field}.outputs")
    return found


def snapshot(record: Mapping[str, Any]) -> list[Named]:
    """The files the run's last attempt ran with (its scripts, its expfile, code.patch
    and packages.json, as far as the record names them); `ValueError` as `named`."""
    return _snapshot(record, "", "")


def _snapshot(data: Mapping[str, Any], prefix: str, field: str) -> list[Named]:
    dot = f"{field}." if field else ""
    scripts = _files(data.get("scripts"), f"{prefix}scripts/", f"{dot}scripts")
    return scripts + _files(data.get("snapshot"), prefix, f"{dot}snapshot")


def _files(listed: object, prefix: str, field: str) -> list[Named]:
    if listed is None:
        return []
    if not isinstance(listed, list):
        raise ValueError(f"{field} is not a list")
    found = []
    for position, entry in enumerate(listed):
        where = f"{field}[{position}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where} is not an object")
        path, digest, link = entry.get("path"), entry.get("sha256"), entry.get("link")
        if not inside(path):
            raise ValueError(f"{where}.path {path!r} is not a path inside the run folder")
        if is_sha256(digest):
            found.append(Named(prefix + path, digest))
        elif digest is None and isinstance(link, str) and "\0" not in link:
            found.append(Named(prefix + path, None, link))
        else:
            raise ValueError(f"{where}.sha256 {digest!r} is not a SHA-256")
    return found


Known = Callable[[os.stat_result], str | None]


def check(
    folder: Path, files: Iterable[Named], known: Known | None = None
) -> list[tuple[str, str]]:
    """(path, what is wrong) of each of `files` that `folder` lacks or holds otherwise.
    `known` gives the content's hash of a file whose hash is known already (by its
    inode: a store object verified just before), or None; the others are hashed."""
    problems = []
    for file in files:
        problem = _problem(folder, file, known)
        if problem is not None:
            problems.append((file.path, problem))
    return problems


def _problem(folder: Path, file: Named, known: Known | None) -> str | None:
    *parents, name = file.path.split("/")
    try:
        fd = open_folder(folder, parents)
    except OSError as e:
        return MISSING if e.errno == errno.ENOENT else "a folder on its way is a link or no folder"
    try:
        if file.link is not None:
            try:
                target = os.readlink(name, dir_fd=fd)
            except FileNotFoundError:
                return MISSING
            except OSError:
                target = None
            return None if target is not None and escape_name(target) == file.link else MISMATCH
        try:
            opened = open_regular(name, os.O_NOFOLLOW, dir_fd=fd)
        except FileNotFoundError:
            return MISSING
        except OSError:
            return "it is a link or no file, where its record names a file"
        with os.fdopen(opened, "rb") as f:
            if known is not None and known(os.fstat(f.fileno())) == file.sha256:
                return None
            return None if hash_open(f) == file.sha256 else MISMATCH
    finally:
        os.close(fd)

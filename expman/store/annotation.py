"""Notes and tags added to a run after the fact, without rewriting what it recorded.

Each addition is a file of its own in the run folder, `annotations/<time>-<host>-<pid>-
<random>.json`, written once and never changed: two people annotating one run at once
write two files, so neither loses the other's words. The record shows them as derived
fields, recomputed from every file whenever the record is written (under the run
folder's lock, see `archive`):

    notes          [{text, at, at_epoch, author}], oldest first
    tags           the recorded tags with each tag changed as its latest change says
    recorded_tags  the tags as the run recorded them (from the expfile)
    tag_changes    [{add, remove, at, at_epoch, author}], oldest first

The files are the truth; the fields can always be derived again from them.
"""

from __future__ import annotations

import errno
import json
import os
import time
from pathlib import Path
from typing import Any, overload

from expman import fsutil, processes
from expman.store import record
from expman.store.objects import open_folder, open_regular

FOLDER = "annotations"


def author() -> str:
    """Who annotates: `user@host`."""
    import getpass  # here: only annotating asks who

    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = "unknown"
    return f"{user}@{processes.host()}"


def add(run_dir: Path, entry: dict[str, Any], now: float | None = None) -> dict[str, Any]:
    """Write one annotation (`{"note": TEXT}` or `{"add": [...], "remove": [...]}`) with its
    time and author; returns it as written."""
    at, at_epoch = record.stamp(time.time() if now is None else now)
    written = {**entry, "at": at, "at_epoch": at_epoch, "author": author()}
    folder = run_dir / FOLDER
    folder.mkdir(exist_ok=True)
    if folder.is_symlink():  # left by an archive from elsewhere: never written through
        raise OSError(errno.ELOOP, "its annotations folder is a link", str(folder))
    host = processes.host().replace("-", "_").replace("/", "_")
    name = f"{int(at_epoch * 1000):013d}-{host}-{os.getpid()}-{os.urandom(4).hex()}.json"
    fsutil.write_json_atomic(folder / name, written)
    return written


def entries(run_dir: Path) -> list[dict[str, Any]]:
    """Every annotation of the run, oldest first (an unreadable one is left out). Links
    are never followed: an annotation is a file of the run folder's own."""
    try:
        folder = open_folder(run_dir / FOLDER)
    except OSError:
        return []
    found = []
    try:
        names = os.listdir(folder)  # noqa: PTH208 - a descriptor: no Path
        for name in sorted(n for n in names if n.endswith(".json")):
            try:
                with os.fdopen(open_regular(name, os.O_NOFOLLOW, dir_fd=folder), "rb") as f:
                    entry = json.loads(f.read())
            except (OSError, ValueError, RecursionError):
                continue
            if isinstance(entry, dict):
                found.append(entry)
    finally:
        os.close(folder)
    return found


@overload
def apply(data: record.Record, annotations: list[dict[str, Any]]) -> record.Record: ...
@overload
def apply(data: dict[str, Any], annotations: list[dict[str, Any]]) -> dict[str, Any]: ...
def apply(data: Any, annotations: list[dict[str, Any]]) -> Any:
    """`data` with `notes`, `tags` and `tag_changes` derived from `annotations`.

    The tags derive from the recorded ones (`recorded_tags` once derived, else `tags`, as
    a runner writes them), so deriving again gives the same list in the same order.
    """
    notes, changes = [], []
    latest: dict[str, bool] = {}
    for entry in annotations:
        stamp = {k: entry.get(k) for k in ("at", "at_epoch", "author")}
        if isinstance(entry.get("note"), str):
            notes.append({"text": entry["note"], **stamp})
        added, removed = _texts(entry.get("add")), _texts(entry.get("remove"))
        if added or removed:
            changes.append({"add": added, "remove": removed, **stamp})
            latest.update(dict.fromkeys(removed, False))
            latest.update(dict.fromkeys(added, True))
    recorded = _texts(data.get("recorded_tags", data.get("tags")))
    tags = [t for t in recorded if latest.get(t, True)]
    tags += [t for t, present in latest.items() if present and t not in tags]
    return {
        **data,
        "recorded_tags": recorded,
        "tags": tags,
        "notes": notes,
        "tag_changes": changes,
    }


def _texts(value: Any) -> list[str]:
    """The strings of a list (records and annotations may come from elsewhere)."""
    return [t for t in value if isinstance(t, str)] if isinstance(value, list) else []


def parse_tag_changes(words: list[str]) -> tuple[list[str], list[str]]:
    """`["+best", "-suspect"]` -> (["best"], ["suspect"]); ValueError for a word that is
    neither."""
    added: list[str] = []
    removed: list[str] = []
    for word in words:
        if len(word) > 1 and word[0] in "+-" and not word[1:].isspace():
            (added if word[0] == "+" else removed).append(word[1:])
        else:
            raise ValueError(f"'{word}': write +TAG to add a tag, -TAG to remove one")
    return added, removed

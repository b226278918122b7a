"""Files a workspace shows of another folder, for reading only (SPEC §9 "Workspaces").

A workspace shows the experiment's data, and a sweep point the targets of its key's
pre-run steps, through symbolic links at the same places; nothing is copied. A folder is
shown as a real folder holding links to its files, so that what a run writes there is
its own and git's ignore rules see the same kinds of entries as in the experiment; a
link of the experiment's own (a dataset on scratch storage, linked in) is shown as one
link to it.

A link can still be written through. So the inode, size and mtime of every shared file
(and, below a linked folder, of every folder and file) are noted when it is shown and
compared after each attempt: `changed` names what differs, and the attempt fails. One
`stat` per file: a change that keeps both size and mtime (within the clock's step, or
with the mtime put back) is not seen.
"""

from __future__ import annotations

import glob
import os
import posixpath
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from expman.errors import UsageError

Stat = tuple[int, int, int]  # inode, size, mtime in ns


class SharedFiles:
    """What a workspace shows of other folders, and how each file was when shown."""

    def __init__(self) -> None:
        self.noted: dict[str, tuple[Path, Stat | None]] = {}

    def show(self, source: Path, inside: Path, names: Iterable[str]) -> None:
        """Link each of `names` (entries of `source`, relative) at its place in `inside`,
        unless the workspace holds something there already (the code version has it);
        note what each link shows."""
        checked: set[str] = set()
        for name in names:
            target = inside / name
            if os.path.lexists(target) or not _real_folders(inside, name, checked):
                continue
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(source / name)
            except OSError:
                continue  # the code version has a file where the data has a folder
            self._note(source, name)

    def changed(self) -> list[str]:
        """The shared files that differ from when they were shown (or are gone)."""
        return sorted(name for name, (path, was) in self.noted.items() if _stat(path) != was)

    def _note(self, source: Path, name: str) -> None:
        path = source / name
        self.noted[name] = (path, _stat(path))
        if not (path.is_symlink() and path.is_dir()):
            return
        for folder, folders, files in os.walk(path):  # a linked folder: all of it is shared
            for entry in (*folders, *files):
                below = Path(folder, entry)
                self.noted[posixpath.join(name, below.relative_to(path).as_posix())] = (
                    below,
                    _stat(below),
                )


def entries(root: Path, patterns: Iterable[str], leave_out: Callable[[str], bool]) -> list[str]:
    """What `patterns` (paths or globs, relative to `root`) name, as the entries a
    workspace links: every file below a real folder, a file, or a link (shown whole).
    Names for which `leave_out` holds, and anything below them, are left out."""
    found: set[str] = set()
    for pattern in patterns:
        if glob.has_magic(pattern):
            matches = glob.glob(pattern, root_dir=root, recursive=True)  # noqa: PTH207
        else:
            matches = [pattern] if os.path.lexists(root / pattern) else []
        for match in matches:
            found.update(n for n in _walk(root, posixpath.normpath(match)) if not leave_out(n))
    return sorted(found)


def refuse_links_over(root: Path, names: Iterable[str], made: Iterable[str]) -> None:
    """`UsageError` when a linked folder among `names` holds what a pre-run step makes:
    the step would write into shared data."""
    made = list(made)
    for name in names:
        inner = next((t for t in made if t.startswith(name + "/")), None)
        if inner is not None and (root / name).is_symlink():
            raise UsageError(
                f"'{name}' is a link to a folder, and a pre-run step makes '{inner}' in it: "
                "it would write into data every run shares; make the target elsewhere"
            )


def _walk(root: Path, name: str) -> Iterator[str]:
    path = root / name
    if path.is_symlink() or path.is_file():
        yield name
        return
    if not path.is_dir():
        return  # a pipe, a socket, a device: no data
    for folder, folders, files in os.walk(path):
        here = Path(folder).relative_to(root).as_posix()
        links = [f for f in folders if Path(folder, f).is_symlink()]
        for entry in (*files, *links):
            if Path(folder, entry).is_symlink() or Path(folder, entry).is_file():
                yield posixpath.join(here, entry)


def _real_folders(inside: Path, name: str, checked: set[str]) -> bool:
    """Whether every folder on the way to `name` in the workspace is a real one (or not
    there yet): a link would take the new link elsewhere."""
    parts = name.split("/")[:-1]
    for depth in range(1, len(parts) + 1):
        prefix = "/".join(parts[:depth])
        if prefix not in checked:
            if (inside / prefix).is_symlink():
                return False
            checked.add(prefix)
    return True


def _stat(path: Path) -> Stat | None:
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_ino, found.st_size, found.st_mtime_ns

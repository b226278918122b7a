"""The experiment's `outputs/` folder: what `fetch` brought, archived with its attempt.

Archiving copies every file into the store and links it into the run folder; only then
is `outputs/` emptied, and only of what was archived. `outputs/` that is a link to a
folder elsewhere, or holds a folder that cannot be read, is refused before anything is
deleted or recorded: emptying it would delete what is not the run's, or not archived (what
was stored before the unreadable folder was met is named by no record, and `gc` frees it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from expman.errors import ArchiveError
from expman.output import Progress
from expman.running.state import STATE_DIR
from expman.store import objects, record, storing

if TYPE_CHECKING:
    from expman.store.archive import Archive

OUTPUTS = "outputs"
TRASH = "trash"  # in `.expman/`: archived outputs on their way out


def folder(root: Path) -> Path:
    """The experiment's `outputs/`; `ArchiveError` when it is a link or not a folder."""
    path = root / OUTPUTS
    if path.is_symlink():
        raise ArchiveError(
            f"{OUTPUTS}/ is a symbolic link (to {path.readlink()}): expman archives and then "
            f"empties {OUTPUTS}/, so it must be a folder of the experiment's own. Replace "
            "the link with a folder (move what it points to elsewhere first); nothing was "
            "archived or deleted"
        )
    if path.exists() and not path.is_dir():
        raise ArchiveError(f"{OUTPUTS} is not a folder: move it away; nothing was deleted")
    return path


def archive(
    root: Path,
    store: objects.ObjectStore,
    destination: Path,
    run_id: str,
    err: TextIO,
    earlier: Sequence[Path] = (),
) -> list[record.File]:
    """Store what `outputs/` holds and link it below `destination`; the record's entries.
    `earlier`: the archived outputs of the runs before, newest first (they tell which big
    files are probably stored already).

    `outputs/` is left as it is: `empty` removes it once the record names the files.
    """
    source = folder(root)
    shutil.rmtree(destination, ignore_errors=True)  # left by an interrupted archiving
    if not source.is_dir():
        return []
    store.remove_abandoned()
    try:
        with (
            store.writing(),
            Progress(err, "archiving outputs", _size(source) if _terminal(err) else 0) as progress,
        ):
            stored = storing.archive_tree(store, source, destination, progress.advance, earlier)
    except OSError as e:
        shutil.rmtree(destination, ignore_errors=True)
        raise ArchiveError(
            f"cannot archive the outputs of run {run_id}: {e.strerror or e}"
            f"{f' ({e.filename})' if e.filename else ''}. Nothing was lost: "
            f"{OUTPUTS}/ is as it was and the run is still open; once the cause "
            "is gone (for a folder you cannot read: `chmod -R u+rX` it, or ask its owner), "
            "run the command again"
        ) from e
    return [_entry(s) for s in stored]


def earlier(archive: Archive, run_id: str) -> list[Path]:
    """The archived outputs of the (up to eight) runs before `run_id`, newest first: what
    `archive` compares big files with to guess whether they are stored already."""
    return [archive.run_dir(i) / OUTPUTS for i in archive.before(run_id, 8)]


def empty(root: Path) -> None:
    """Remove what `outputs/` holds (all of it is in the archive now); keep the folder.

    The entries are moved into `.expman/trash/` at once and deleted there by a detached
    `rm`: freeing hundreds of MB can take longer than archiving them (file systems
    mounted with `discard`), and nobody needs to wait for it.
    """
    path = folder(root)
    if not path.is_dir():
        path.mkdir()
        return
    entries = list(path.iterdir())
    if not entries:
        return
    trash = root / STATE_DIR / TRASH / os.urandom(16).hex()
    try:
        trash.mkdir(parents=True)
        for entry in entries:
            entry.rename(trash / entry.name)
    except OSError:  # another file system, say: delete in place
        for entry in path.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    _remove_in_background(root / STATE_DIR / TRASH)


def _remove_in_background(trash: Path) -> None:
    """Delete `trash` (and what earlier, killed removals left there) in a detached `rm`."""
    try:
        # `sh` starts `rm` in the background and returns at once: `rm` outlives expman,
        # and is no child of it to wait for.
        subprocess.run(
            ["sh", "-c", 'rm -rf -- "$0" &', str(trash)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            check=False,
        )
    except OSError:
        shutil.rmtree(trash, ignore_errors=True)


def _entry(stored: objects.Stored) -> record.File:
    entry: record.File = {"path": stored.path, "size": stored.size, "sha256": stored.sha256}
    if stored.link is not None:
        entry["link"] = stored.link
    return entry


def _terminal(stream: TextIO) -> bool:
    """Whether a progress bar can be shown on `stream` (else the bytes to archive need not
    be counted first: a walk of the tree, one `stat` a file)."""
    return bool(getattr(stream, "isatty", bool)())


def _size(path: Path) -> int:
    """The bytes of the files below `path`, links not followed; an unreadable folder
    raises `OSError`."""
    total = 0
    with os.scandir(path) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                total += _size(Path(entry.path))
            elif not entry.is_symlink():
                total += entry.stat(follow_symlinks=False).st_size
    return total

"""Finding the expfile, and its `archive` setting, without parsing YAML when possible.

Reading commands (`list`, `query`, `show`, ...) need only where the archive is. The
setting is kept in `.expman/archive-setting` with the digest of the expfile's bytes it
was read from: while the expfile is unchanged, nothing parses it (and YAML is not even
imported). `.expman/` is disposable: without the file, the expfile is read as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import posixpath
import re
from pathlib import Path

from expman.errors import UsageError

EXPFILE = "expfile.yaml"
DEFAULT_ARCHIVE = "runs"
REPORT = "report.html"  # `expman report`'s page beside the expfile: expman's own, never code
_CACHE = Path(".expman") / "archive-setting"


def find(start: Path) -> Path:
    """The expfile of the experiment holding `start`: in it, or in the nearest parent."""
    for folder in (start, *start.parents):
        candidate = folder / EXPFILE
        if candidate.is_file():
            return candidate
    raise UsageError(f"no {EXPFILE} in {start} or any folder above it; `expman init` makes one")


def archive_setting(path: Path) -> str:
    """The expfile's `archive`, read leniently (see `read_archive_setting`): from
    the cache while the expfile's bytes are those it was read from."""
    try:
        data = path.read_bytes()
    except OSError:
        return DEFAULT_ARCHIVE
    digest = hashlib.sha256(data).hexdigest()
    cache = path.parent / _CACHE
    try:
        cached_digest, _, value = cache.read_text(encoding="utf-8").partition("\n")
        if cached_digest == digest and value:
            return value
    except (OSError, UnicodeDecodeError):
        pass
    value = read_archive_setting(data.decode("utf-8", errors="replace"))
    if cache.parent.is_dir() and "\n" not in value:
        from expman import fsutil

        # A cache: without it, the next command reads the expfile again.
        with contextlib.suppress(OSError):
            fsutil.write_atomic(cache, f"{digest}\n{value}".encode(), sync=False)
    return value


_ARCHIVE_LINE = re.compile(r"^archive:[ \t]*(?P<value>[^#\n]*?)[ \t]*(?:#.*)?$", re.MULTILINE)


def read_archive_setting(text: str) -> str:
    """The expfile's `archive`, read leniently: readers must work while the expfile is
    half-edited. The YAML value if the file parses; else a top-level `archive:` line;
    else the default. (`archive_setting` caches it.)"""
    from expman.expfile import yamlnodes  # imports YAML: only when the cache misses

    try:
        node = yamlnodes.compose(text)
        found = yamlnodes.child(node, "archive") if node is not None else None
        value = yamlnodes.construct(found[1]) if found and not yamlnodes.check(found[1]) else None
        if found is None or isinstance(value, str):
            return posixpath.normpath(value or DEFAULT_ARCHIVE)
    except yamlnodes.SyntaxProblem:
        pass
    match = _ARCHIVE_LINE.search(text)
    value = match.group("value").strip("'\"") if match else ""
    return posixpath.normpath(value) if value else DEFAULT_ARCHIVE

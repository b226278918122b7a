"""Finding the expfile, and its `archive` setting, without parsing YAML when possible.

Reading commands (`list`, `query`, `show`, ...) need only where the archive is. The
setting is kept in `.expman/archive-setting` with the digest of the expfile's bytes it
was read from: while the expfile is unchanged, nothing parses it (and YAML is not even
imported). `.expman/` is disposable: without the file, the expfile is read as before.

Here too are the limits on the values an expfile holds, which the values of `-s` and of a
sweep's points keep as well: how deep they nest (`MAX_DEPTH`) and which numbers they can
be (`number_problem`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

from expman import jsontext
from expman.errors import UsageError

EXPFILE = "expfile.yaml"
DEFAULT_ARCHIVE = "runs"
MAX_DEPTH = 32  # how deeply an expfile may nest lists and mappings
_CACHE = Path(".expman") / "archive-setting"
_SHOWN = 40  # characters of a value a message quotes whole


def find(start: Path) -> Path:
    """The expfile of the experiment holding `start`: in it, or in the nearest parent."""
    for folder in (start, *start.parents):
        candidate = folder / EXPFILE
        if candidate.is_file():
            return candidate
    raise UsageError(f"no {EXPFILE} in {start} or any folder above it; `expman init` makes one")


def archive_setting(path: Path) -> str:
    """The expfile's `archive`, read leniently (see `config.read_archive_setting`): from
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
    from expman.expfile.config import read_archive_setting  # imports YAML: only on a miss

    value = read_archive_setting(data.decode("utf-8", errors="replace"))
    if cache.parent.is_dir() and "\n" not in value:
        from expman import fsutil

        # A cache: without it, the next command reads the expfile again.
        with contextlib.suppress(OSError):
            fsutil.write_atomic(cache, f"{digest}\n{value}".encode(), sync=False)
    return value


def number_problem(value: float, written: str | None = None) -> str | None:
    """Why no var, env value or point can be the number `value` (as `written`, when it
    was text); None when one can. Values are recorded in strict JSON: no NaN, no
    infinities, and (`jsontext.finite`) nothing beyond a 64-bit float, which its readers
    would read as infinity."""
    if jsontext.finite(value):
        return None
    if written is None:
        written = json.dumps(value) if isinstance(value, float) else "an integer"
    if isinstance(value, float) and not any(c.isdigit() for c in written):  # .inf, NaN
        return f"{written} is not a finite number"
    return (
        f"{excerpt(written)} is out of range: a number is at most ±1.8e308 (a 64-bit float); "
        "quote it to mean text"
    )


def excerpt(text: str) -> str:
    """`text` as a message quotes it: whole when short, else its start and its length."""
    return text if len(text) <= _SHOWN else f"{text[:20]}... ({len(text):,} characters)"

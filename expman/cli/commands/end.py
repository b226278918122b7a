"""`expman end`: close the open run: observations, outputs archived, the next run prepared.

The closing itself is `ending.close`; this command gathers the observations (`-m`, the
expfile, or `$EDITOR`) and clears them from the expfile once they are recorded.

`end` does not need the expfile to be valid: after a run, the researcher may already be
editing it for the next one. Only its `observations` are read from it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TextIO

from expman import fsutil
from expman.errors import UsageError
from expman.expfile import location
from expman.output import printable, write_line
from expman.running import ending
from expman.running.openrun import open_record
from expman.store import record
from expman.store.archive import Archive


def end(
    *,
    path: Path,
    display: str,
    message: str | None,
    streams: tuple[TextIO, TextIO],
    sweep: str | None = None,
) -> int:
    """Record observations and the final status, archive outputs, and prepare the next run;
    with `sweep` (or with no open run after a sweep), record observations on the sweep."""
    out, err = streams
    if sweep is not None or open_record(path.parent) is None:
        found = _sweep_to_end(path, sweep)
        if found is not None:
            return _end_sweep(path, display, message, found, out)

    def observations(run: record.Record) -> str:
        return _observations(message, _expfile_observations(path), run, display)

    def clear() -> None:
        if not _clear_observations(path):
            write_line(
                err,
                f"expman: warning: {display} is not plain YAML: its observations "
                "were left as they are",
            )

    archive, run = ending.close(path.parent, observations, clear, err)
    if not (run.get("observations") or "").strip() and message is None:
        write_line(
            err,
            f"expman: run {run['id']} records no observations (no -m, none in {display}): "
            f"`expman note {int(run['id'])} -m TEXT` adds some",
        )
    size = sum(o["size"] for o in run["outputs"])
    write_line(
        out,
        printable(
            f"ended run {run['id']} ({run['status']}): {len(run['outputs'])} outputs, "
            f"{size / 1e6:.1f} MB, in {archive.run_dir(run['id'])}"
        ),
    )
    return 0


def _sweep_to_end(path: Path, name: str | None) -> tuple[Archive, str] | None:
    """The sweep `name`, or (with no name) the last sweep if it has no observations yet."""
    from expman.sweeps.store import Sweeps

    archive = Archive(path.parent / location.archive_setting(path))
    sweeps = Sweeps(archive)
    if name is not None:
        return archive, sweeps.resolve(name)
    ids = sweeps.ids()
    if ids and not sweeps.read(ids[-1]).get("observations"):
        return archive, ids[-1]
    return None


def _end_sweep(
    path: Path, display: str, message: str | None, found: tuple[Archive, str], out: TextIO
) -> int:
    from expman.sweeps.store import Sweeps, record_observations

    archive, sweep_id = found
    data = Sweeps(archive).read(sweep_id)
    pseudo: record.Record = {
        "id": sweep_id,
        "status": "sweep",
        "hypothesis": data.get("hypothesis"),
    }
    text = _observations(message, _expfile_observations(path), pseudo, display)
    runs = record_observations(archive, sweep_id, text)
    _clear_observations(path)
    write_line(out, f"ended sweep {sweep_id}: observations recorded on it and its {len(runs)} runs")
    return 0


def _expfile_observations(path: Path) -> str | None:
    """The expfile's `observations` text ("" when none); None when it is not YAML."""
    if not _may_have_observations(path):
        return ""
    from expman.expfile import yamlnodes

    try:
        node = yamlnodes.compose(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yamlnodes.SyntaxProblem):
        return None
    found = yamlnodes.child(node, "observations") if node is not None else None
    if found is not None and yamlnodes.check(found[1]):
        return None  # a tag or an alias bomb: not plain text, not to be constructed
    value = yamlnodes.construct(found[1]) if found is not None else None
    return value if isinstance(value, str) else ""


def _observations(
    message: str | None, written: str | None, run: record.Record, display: str
) -> str:
    """-m, the expfile's observations, or $EDITOR on a terminal. Given both -m and text in
    the expfile, both are kept: the expfile's is about to be cleared, and must not be lost."""
    if message is not None:
        if written and written.strip() and written.strip() != message.strip():
            return f"{message}\n\n{written}"
        return message
    if written is None:
        raise UsageError(
            f"{display} is not plain YAML, so its observations cannot be read: fix it, "
            "or give them with `expman end -m OBSERVATIONS`"
        )
    if written:
        return written
    if sys.stdin.isatty() and sys.stdout.isatty():
        return _from_editor(run)
    return ""


def _may_have_observations(path: Path) -> bool:
    """False when the expfile cannot hold observations: the word is not in it (most ends;
    then YAML, slow to import, is not needed)."""
    try:
        return b"observations" in path.read_bytes()
    except OSError:
        return True  # the reading itself will say what is wrong


def _from_editor(run: record.Record) -> str:
    import shlex  # here: `end -m` starts no editor
    import subprocess
    import tempfile

    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    template = (
        f"\n# Observations on run {run['id']} ({run['status']}).\n"
        f"# Hypothesis: {run.get('hypothesis') or '-'}\n"
        "# Lines starting with # are left out. An empty text records no observations.\n"
    )
    with tempfile.NamedTemporaryFile("w+", suffix=".md", prefix="expman-", delete=False) as f:
        f.write(template)
    try:
        subprocess.run([*shlex.split(editor), f.name], check=False)
        text = Path(f.name).read_text(encoding="utf-8")
    finally:
        Path(f.name).unlink(missing_ok=True)
    return "\n".join(line for line in text.splitlines() if not line.startswith("#")).strip()


def _clear_observations(path: Path) -> bool:
    """Set the expfile's `observations` to "", every other byte of the file as it was.

    False when the file is not YAML (then it is left alone).
    """
    if not _may_have_observations(path):
        return True
    from expman.expfile import yamlnodes

    real = path.resolve()
    text = real.read_text(encoding="utf-8", errors="surrogateescape")
    try:
        node = yamlnodes.compose(text)
    except yamlnodes.SyntaxProblem:
        return False
    found = yamlnodes.child(node, "observations") if node is not None else None
    if node is None or found is None:
        return True
    if yamlnodes.check(found[1]):
        return False
    if yamlnodes.construct(found[1]) in ("", None):
        return True
    new = yamlnodes.replace_value(text, node, ["observations"], "")
    fsutil.write_atomic(real, new.encode("utf-8", "surrogateescape"), real.stat().st_mode & 0o7777)
    return True

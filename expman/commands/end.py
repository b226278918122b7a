"""`expman end`: close the open run: observations, outputs archived, the next run prepared.

The order makes a crash at any point harmless, and `expman end` again finishes the job:
outputs are linked into the archive, the record is written (now `ended`), and only then
is `outputs/` emptied, the expfile's observations cleared and the run closed.

`end` does not need the expfile to be valid: after a run, the researcher may already be
editing it for the next one. Only its `observations` are read from it; the metrics file
is the one the run's own snapshot names.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

from expman import fsutil, metrics, outputs, record, yamlnodes
from expman.errors import UsageError
from expman.openrun import mark_closed, open_record, repair
from expman.output import write_line
from expman.outputs import OUTPUTS
from expman.state import State


def end(*, path: Path, display: str, message: str | None, streams: tuple[TextIO, TextIO]) -> int:
    """Record observations and the final status, archive outputs, and prepare the next run."""
    out, err = streams
    root = path.parent
    state = State(root)
    with state.lock("end"):
        repair(root)
        found = open_record(root, include_ended=True)
        if found is None:
            raise UsageError("no open run to end: `expman run` or `expman start` opens one")
        archive, run = found
        if run["ended"] is None:
            written = _expfile_observations(path)
            observations = _observations(message, written, run, display)
            run_dir = archive.run_dir(run["id"])
            stored = outputs.archive(root, archive.objects, run_dir / OUTPUTS, run["id"], err)
            attempt = record.current_attempt(run) if run["attempts"] else {}
            if run.get("metrics") is None and attempt.get("metrics_error") is None:
                # Its runner died before it read them (or never ran): read them now.
                run["metrics"] = attempt["metrics"] = _metrics(root, run_dir)
            record.end(run, observations, stored, time.time())
            archive.write(run)
        outputs.empty(root)
        if not _clear_observations(path):
            write_line(
                err,
                f"expman: warning: {display} is not plain YAML: its observations "
                "were left as they are",
            )
        mark_closed(state, archive, run)
    size = sum(o["size"] for o in run["outputs"])
    write_line(
        out,
        f"ended run {run['id']} ({run['status']}): {len(run['outputs'])} outputs, "
        f"{size / 1e6:.1f} MB, in {archive.run_dir(run['id'])}",
    )
    return 0


def _expfile_observations(path: Path) -> str | None:
    """The expfile's `observations` text ("" when none); None when it is not YAML."""
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


def _from_editor(run: record.Record) -> str:
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


def _metrics(root: Path, run_dir: Path) -> Any:
    """The metrics the run's own expfile names (a metrics file archived with the outputs
    included), or None."""
    try:
        node = yamlnodes.compose((run_dir / "expfile.yaml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yamlnodes.SyntaxProblem):
        return None
    snapshot = yamlnodes.construct(node) if node is not None else None
    name = snapshot.get("metrics") if isinstance(snapshot, dict) else None
    if not isinstance(name, str):
        return None
    for candidate in (root / name, run_dir / name):
        if candidate.is_file():
            try:
                return metrics.read(candidate, name)
            except metrics.MetricsError:
                return None
    return None


def _clear_observations(path: Path) -> bool:
    """Set the expfile's `observations` to "", every other byte of the file as it was.

    False when the file is not YAML (then it is left alone).
    """
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

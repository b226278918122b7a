"""`expman end`: close the open run: observations, outputs archived, the next run prepared.

The order makes a crash at any point harmless, and `expman end` again finishes the job:
outputs are linked into the archive, the record is written (now `ended`), and only then
is `outputs/` emptied, the expfile's observations cleared and the run closed.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

from expman import config, fsutil, objects, record, yamlnodes
from expman.errors import ArchiveError, UsageError
from expman.model import Config
from expman.openrun import open_record, repair
from expman.output import Progress, write_line
from expman.session import OUTPUTS, read_metrics
from expman.state import State


def end(*, path: Path, display: str, message: str | None, streams: tuple[TextIO, TextIO]) -> int:
    """Record observations and the final status, archive outputs, and prepare the next run."""
    out, err = streams
    state = State(path.parent)
    cfg = config.load(path, display, cache=state)
    with state.lock("end"):
        repair(cfg.root)
        found = open_record(cfg.root, include_ended=True)
        if found is None:
            raise UsageError("no open run to end: `expman run` or `expman start` opens one")
        archive, run = found
        if run["ended"] is None:
            observations = _observations(message, cfg, run)
            run_dir = archive.run_dir(run["id"])
            shutil.rmtree(run_dir / OUTPUTS, ignore_errors=True)  # from an interrupted end
            outputs_dir = cfg.root / OUTPUTS
            stored: list[objects.Stored] = []
            if outputs_dir.is_dir():
                try:
                    with Progress(err, "archiving outputs", _size(outputs_dir)) as progress:
                        stored = objects.archive_tree(
                            archive.objects,
                            outputs_dir,
                            run_dir / OUTPUTS,
                            True,
                            progress.advance,
                        )
                except OSError as e:
                    raise ArchiveError(
                        f"cannot archive the outputs of run {run['id']}: {e.strerror or e}"
                        f"{f' ({e.filename})' if e.filename else ''}. Nothing was lost: "
                        f"{OUTPUTS}/ is as it was and the run is still open; once the cause "
                        "is gone, run `expman end` again"
                    ) from e
            if run.get("metrics") is None and cfg.metrics:
                run["metrics"] = _metrics(cfg, run_dir)
            outputs = [_output(s) for s in stored]
            record.end(run, observations, outputs, time.time())
            archive.write(run)
        _empty(cfg.root / OUTPUTS)
        _clear_observations(path)
        state.set_open_run(None)
    size = sum(o["size"] for o in run["outputs"])
    write_line(
        out,
        f"ended run {run['id']} ({run['status']}): {len(run['outputs'])} outputs, "
        f"{size / 1e6:.1f} MB, in {archive.run_dir(run['id'])}",
    )
    return 0


def _observations(message: str | None, cfg: Config, run: record.Record) -> str:
    """-m, the expfile's observations, or $EDITOR on a terminal. Given both -m and text in
    the expfile, both are kept: the expfile's is about to be cleared, and must not be lost."""
    if message is not None:
        if cfg.observations.strip() and cfg.observations.strip() != message.strip():
            return f"{message}\n\n{cfg.observations}"
        return message
    if cfg.observations:
        return cfg.observations
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


def _metrics(cfg: Config, run_dir: Path) -> Any:
    assert cfg.metrics is not None
    for candidate in (cfg.root / cfg.metrics, run_dir / cfg.metrics):
        if candidate.is_file():
            try:
                return read_metrics(candidate)
            except ValueError:
                return None
    return None


def _output(stored: objects.Stored) -> dict[str, Any]:
    entry: dict[str, Any] = {"path": stored.path, "size": stored.size, "sha256": stored.sha256}
    if stored.link is not None:
        entry["link"] = stored.link
    return entry


def _size(folder: Path) -> int:
    total = 0
    for directory, _, names in os.walk(folder):
        for name in names:
            path = Path(directory, name)
            if not path.is_symlink():
                total += path.stat().st_size
    return total


def _empty(folder: Path) -> None:
    """Remove what `outputs/` holds (all of it is in the archive now); keep the folder."""
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _clear_observations(path: Path) -> None:
    """Set the expfile's `observations` to "", every other byte of the file as it was."""
    real = path.resolve()
    text = real.read_text(encoding="utf-8")
    node = yamlnodes.compose(text)
    found = yamlnodes.child(node, "observations") if node is not None else None
    if node is None or found is None or found[1].value in ("", None):
        return
    if yamlnodes.construct(found[1]) in ("", None):
        return
    new = yamlnodes.replace_value(text, node, ["observations"], "")
    fsutil.write_atomic(real, new.encode("utf-8"), real.stat().st_mode & 0o7777)

"""`expman logs RUN [STEP]`: the stage logs of a run, as the stages wrote them."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from expman.archive import Archive
from expman.errors import UsageError
from expman.output import style, write_line


def logs(*, archive: Path, name: str, step: str | None, out: TextIO) -> int:
    """Print the stdout and stderr logs of each step of the run's latest attempt (or of
    the one step named), each under a header saying whose it is."""
    store = Archive(archive)
    run_id = store.resolve(name)
    record = store.read(run_id)
    steps = [s for s in record.get("stages") or [] if isinstance(s, dict)]
    names = [str(s.get("name")) for s in steps]
    if step is not None:
        chosen = [s for s in steps if s.get("name") == step or s.get("stage") == step]
        if not chosen:
            raise UsageError(f"run {run_id} has no step '{step}' (steps: {', '.join(names)})")
        steps = chosen
    folder = store.run_dir(run_id)
    for entry in steps:
        for log in entry.get("logs") or []:
            path = folder / str(log)
            if not path.is_file() or path.stat().st_size == 0:
                continue
            stream = "stderr" if str(log).endswith(".err") else "stdout"
            write_line(out, style(f"── {entry.get('name')} ({stream}: {path})", "cyan", out))
            out.flush()
            _copy(path, out)
    return 0


def _copy(path: Path, out: TextIO) -> None:
    buffer = getattr(out, "buffer", None)
    with path.open("rb") as f:
        while chunk := f.read(1 << 16):
            if buffer is not None:
                buffer.write(chunk)
            else:
                out.write(chunk.decode("utf-8", "replace"))
    if buffer is not None:
        buffer.flush()

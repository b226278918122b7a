"""`expman validate`: check an expfile against the schema and expman's own rules."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from expman import config
from expman.output import write_line


def validate(*, path: Path, display: str, out: TextIO) -> int:
    """Raise `ConfigError` listing every problem, or print a one-line summary."""
    cfg = config.load(path, display)
    steps = ", ".join(step.task_name for step in cfg.steps)
    write_line(out, f"{display}: valid ({len(cfg.vars)} vars; steps: {steps})")
    return 0

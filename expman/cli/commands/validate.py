"""`expman validate`: check an expfile against the schema and expman's own rules, and
that each sweep it names gives a plan of distinct points."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from expman.errors import ConfigError
from expman.expfile import loading
from expman.output import write_line
from expman.sweeps import inputs


def validate(*, path: Path, display: str, out: TextIO) -> int:
    """Raise `ConfigError` listing every problem, or print a one-line summary."""
    config = loading.load(path, display)
    problems = inputs.named_problems(config, display)
    if problems:
        raise ConfigError(problems)
    steps = ", ".join(step.task_name for step in config.steps)
    write_line(out, f"{display}: valid ({len(config.vars)} vars; steps: {steps})")
    return 0

"""`expman doit ARGS`: doit's own commands (list, info, forget, ...) on the stage graph."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from expman.expfile import loading
from expman.running import engine
from expman.running.session import Session
from expman.running.state import State


def doit(*, path: Path, display: str, args: Sequence[str], streams: tuple[TextIO, TextIO]) -> int:
    """Pass `args` to doit, with expman's tasks and settings."""
    config = loading.load(path, display, cache=State(path.parent))
    return engine.doit(config, Session(config, streams), args)

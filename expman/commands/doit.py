"""`expman doit ARGS`: doit's own commands (list, info, forget, ...) on the stage graph."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from expman import config, engine
from expman.session import Session
from expman.state import State


def doit(*, path: Path, display: str, args: Sequence[str], streams: tuple[TextIO, TextIO]) -> int:
    """Pass `args` to doit, with expman's tasks and settings."""
    cfg = config.load(path, display, cache=State(path.parent))
    return engine.doit(cfg, Session(cfg, streams), args)

"""`expman run`: execute the stages as one attempt of the open run (starting one if needed)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from expman.errors import EXIT_INTERNAL, EXIT_STAGE_FAILED, UsageError
from expman.expfile import loading
from expman.running import engine
from expman.running.openrun import open_record
from expman.running.session import Session
from expman.running.state import State


def run(
    *,
    path: Path,
    display: str,
    overrides: Sequence[str],
    force: bool,
    only: str | None,
    streams: tuple[TextIO, TextIO],
) -> int:
    """0 when every stage succeeded, 1 when one failed; interrupted runs raise upward."""
    overrides = [*start_overrides(path.parent), *overrides]
    config = loading.load(path, display, overrides, cache=State(path.parent))
    stages = list(dict.fromkeys(step.stage for step in config.steps))
    if only is not None and only not in stages:  # doit would run every task
        raise UsageError(
            f"--only {only}: {display} has no {only} stage (it has: {', '.join(stages)})"
        )
    session = Session(config, streams)
    session.acquire()
    try:
        code = engine.run(session, only, force)
    finally:
        session.release()
    if code == 0:
        return 0
    if code in (1, 2):
        return EXIT_STAGE_FAILED
    return EXIT_INTERNAL


def start_overrides(root: Path) -> list[str]:
    """The `-s` overrides given to `expman start` for the open run, as NAME=VALUE."""
    found = open_record(root)
    saved = found[1].get("start_overrides") if found else None
    if not isinstance(saved, dict):
        return []
    return [f"{name}={json.dumps(value)}" for name, value in saved.items()]

"""The validated expfile as frozen dataclasses: what the rest of expman works from."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def env_text(value: Any) -> str:
    """How a var or env value reaches a script: text as is, booleans as true/false,
    numbers as written in JSON, lists and mappings as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class Step:
    """One command of a stage. Pre-run may hold several; every other stage holds one."""

    stage: str
    name: str
    cmd: str | None = None
    script: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    export: tuple[str, ...] | None = None  # None: the experiment's `export`
    deps: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    description: str = ""

    @property
    def task_name(self) -> str:
        """The doit task name: the stage, or `pre-run:NAME` for a step of a list."""
        return self.stage if self.name == self.stage else f"{self.stage}:{self.name}"

    @property
    def log_name(self) -> str:
        """File name stem of this step's logs (no `:`, which some file systems refuse)."""
        return self.task_name.replace(":", ".")

    @property
    def definition(self) -> dict[str, Any]:
        """What the step runs, as JSON-ready data: part of what decides skipping."""
        return {
            "cmd": self.cmd,
            "script": self.script,
            "args": list(self.args),
            "env": dict(self.env),
            "export": None if self.export is None else list(self.export),
            "deps": list(self.deps),
            "targets": list(self.targets),
        }


@dataclass(frozen=True)
class Config:
    """A validated expfile, with `-s` overrides applied to `vars`."""

    path: Path
    text: str
    name: str
    description: str
    hypothesis: str
    observations: str
    tags: tuple[str, ...]
    vars: Mapping[str, Any]
    export: tuple[str, ...]
    env: Mapping[str, str]
    steps: tuple[Step, ...]
    metrics: str | None
    archive: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    sweeps: Mapping[str, Any] = field(default_factory=dict)  # named sweeps, as written
    slurm: Mapping[str, Any] = field(default_factory=dict)  # the `slurm:` section, as written
    data: tuple[str, ...] = ()  # the `data:` patterns, normalised
    sample_every: float | None = 1.0  # seconds between resource samples (None: none)

    @property
    def shared_patterns(self) -> tuple[str, ...]:
        """What a workspace shows of the experiment folder: the declared data and the
        pre-run steps' dependencies (those git holds are in the workspace already)."""
        deps = (dep for step in self.steps_of("pre-run") for dep in step.deps)
        return tuple(dict.fromkeys((*self.data, *deps)))

    @property
    def targets(self) -> tuple[str, ...]:
        """What the pre-run steps make: never taken from the experiment folder."""
        return tuple(target for step in self.steps_of("pre-run") for target in step.targets)

    @property
    def root(self) -> Path:
        """The experiment directory: the one holding the expfile."""
        return self.path.parent

    def exported_env(self, step: Step | None = None) -> dict[str, str]:
        """Exported vars (those `step` sees) and the experiment-wide env, as text."""
        names = self.export if step is None or step.export is None else step.export
        env = {name: env_text(self.vars[name]) for name in names}
        env.update(self.env)
        return env

    def steps_of(self, stage: str) -> tuple[Step, ...]:
        """The steps of one stage, in order."""
        return tuple(step for step in self.steps if step.stage == stage)

"""What a job asks Slurm for: the expfile's `slurm:` section, with `--slurm KEY=VALUE`
from the command line over it, as `#SBATCH` options."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from expman.errors import UsageError

WARNING_SECONDS = 120
_TIME = re.compile(r"^(\d+-)?\d+(:\d+){0,2}$")
_MEMORY = re.compile(r"^\d+[KMGT]?$")


@dataclass(frozen=True)
class Settings:
    """The resources and behaviour of the jobs of one submission."""

    partition: str | None = None
    time: str | None = None
    cpus: int | None = None
    memory: str | None = None
    gpus: int | None = None
    throttle: int | None = None
    sbatch: tuple[str, ...] = ()
    resumable: bool = False
    warning: int = WARNING_SECONDS

    def options(self) -> list[str]:
        """The sbatch options these settings give (one `#SBATCH` line each)."""
        found = []
        if self.partition:
            found.append(f"--partition={self.partition}")
        if self.time:
            found.append(f"--time={self.time}")
        if self.cpus:
            found.append(f"--cpus-per-task={self.cpus}")
        if self.memory:
            found.append(f"--mem={self.memory}")
        if self.gpus:
            found.append(f"--gres=gpu:{self.gpus}")
        found.append(f"--signal=B:USR2@{self.warning}")
        found.extend(self.sbatch)
        return found

    def record(self) -> dict[str, Any]:
        """What the record keeps of what was asked."""
        return {
            "partition": self.partition,
            "time": self.time,
            "cpus": self.cpus,
            "memory": self.memory,
            "gpus": self.gpus,
            "resumable": self.resumable,
        }


def settings(section: Mapping[str, Any], overrides: Sequence[str]) -> Settings:
    """The expfile's section (already validated) with `KEY=VALUE` overrides over it."""
    merged: dict[str, Any] = dict(section)
    for given in overrides:
        key, sep, value = given.partition("=")
        if not sep:
            raise UsageError(f"--slurm {given}: expected KEY=VALUE (e.g. time=1:00:00)")
        typed = _typed(key, value)
        merged[key] = [*(merged.get("sbatch") or []), *typed] if key == "sbatch" else typed
    return Settings(
        partition=merged.get("partition"),
        time=merged.get("time"),
        cpus=merged.get("cpus"),
        memory=merged.get("memory"),
        gpus=merged.get("gpus"),
        throttle=merged.get("throttle"),
        sbatch=tuple(merged.get("sbatch") or ()),
        resumable=bool(merged.get("resumable", False)),
        warning=int(merged.get("warning", WARNING_SECONDS)),
    )


def _typed(key: str, value: str) -> Any:
    """A command-line value checked as the schema checks the expfile's."""
    where = f"--slurm {key}={value}"
    if key in ("cpus", "gpus", "throttle", "warning"):
        low = {"gpus": 0, "warning": 10}.get(key, 1)
        if not value.isdigit() or int(value) < low:
            raise UsageError(f"{where}: expected a whole number, at least {low}")
        return int(value)
    if key == "time":
        if not _TIME.match(value):
            raise UsageError(f"{where}: expected MM, MM:SS, HH:MM:SS or D-HH:MM:SS")
        return value
    if key == "memory":
        if not _MEMORY.match(value):
            raise UsageError(f"{where}: expected megabytes, or a number with K, M, G or T")
        return value
    if key == "resumable":
        if value not in ("true", "false"):
            raise UsageError(f"{where}: expected true or false")
        return value == "true"
    if key == "partition":
        if not value or any(c.isspace() for c in value):
            raise UsageError(f"{where}: expected a partition's name")
        return value
    if key == "sbatch":
        if not value.startswith("-"):
            raise UsageError(f"{where}: expected an sbatch option, starting with - or --")
        return [value]
    known = "partition, time, cpus, memory, gpus, throttle, sbatch, resumable, warning"
    raise UsageError(f"--slurm {key}: not a Slurm setting ({known})")

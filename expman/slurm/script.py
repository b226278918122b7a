"""Batch scripts: readable, runnable by hand with `sbatch`, no pickled objects.

The `#SBATCH` lines come first, in one block (a blank line would end Slurm's reading of
them); then what the job is, in comments; then shell: the folder, the variables and the
command, every value quoted with `shlex.quote`, so a value like `$(touch pwned)` stays
text. The command replaces the shell (`exec`), so that Slurm's warning signal (`B:`, to
the batch shell) reaches expman itself.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

from expman import fsutil
from expman.errors import UsageError


def write(
    path: Path,
    *,
    name: str,
    output: Path,
    options: Sequence[str],
    about: Sequence[str],
    folder: Path,
    env: Mapping[str, str],
    command: Sequence[str],
    array: str | None = None,
) -> None:
    """Write the batch script at `path` (its output folder is made: Slurm before 23.02
    fails silently when it is missing)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    directives = [f"--job-name={name}", f"--output={output}", "--open-mode=append"]
    if array is not None:
        directives.append(f"--array={array}")
    lines = ["#!/bin/bash"]
    lines += [f"#SBATCH {_directive(option)}" for option in [*directives, *options]]
    lines += ["#", *(f"# {text}" for text in about)]
    lines += ["# Written by expman; `sbatch` it again by hand if you like.", ""]
    lines.append(f"cd -- {shlex.quote(str(folder))}")
    lines += [f"export {key}={shlex.quote(value)}" for key, value in env.items()]
    lines.append("exec " + " ".join(shlex.quote(part) for part in command))
    fsutil.write_atomic(path, ("\n".join(lines) + "\n").encode(), mode=0o755)


def _directive(option: str) -> str:
    """One option as an `#SBATCH` line takes it: no line breaks can get through."""
    if "\n" in option or "\r" in option:
        raise UsageError(f"an sbatch option cannot hold a line break: {option!r}")
    return option

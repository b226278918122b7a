"""The exceptions expman raises, each carrying a message written for the user.

`cli.main` turns them into output and an exit code, as the entry points of the processes
expman starts of itself do (a sweep's point, a Slurm job or task), all with
`output.write_error`: library code raises, never prints or exits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

EXIT_STAGE_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_CHECK_DIFFERS = 4  # fsck found damage; rerun --check found a difference
EXIT_INTERRUPTED = 130


class ExpmanError(Exception):
    """Base class: `str(error)` is the whole message shown to the user."""

    exit_code = EXIT_USAGE


class UsageError(ExpmanError):
    """Bad command-line arguments, or a command that does not apply here."""


class ArchiveError(ExpmanError):
    """The run archive cannot be read or written as asked."""


class QueryError(ExpmanError):
    """A JMESPath expression that does not parse or does not evaluate."""


class StageError(ExpmanError):
    """A stage could not be started at all (not: a stage that exited non-zero)."""

    exit_code = EXIT_STAGE_FAILED


class Problem(NamedTuple):
    """One problem in a config file, located by line, column and JSON path.

    The small value types of the modules every command imports are named tuples, not
    dataclasses: `dataclasses` imports `inspect`, 8 ms of every start (docs/performance.md)."""

    path: str
    line: int
    column: int
    json_path: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        text = f"{self.path}:{self.line}:{self.column}: {self.json_path}: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class ConfigError(ExpmanError):
    """An expfile that does not parse or validate: every problem found, in file order."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.line, p.column, p.json_path))
        super().__init__("\n".join(str(p) for p in self.problems))

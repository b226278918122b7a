"""argparse as the command line needs it: usage errors raise `UsageError` (with a
did-you-mean for a mistyped command) instead of exiting, so that `cli/main` stays the one
error boundary; `tag`'s `-TAG` words read as words, not options, in any order with its
options.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from typing import Any

from expman.errors import UsageError
from expman.text import did_you_mean


class Parser(argparse.ArgumentParser):
    """argparse, but usage errors raise instead of exiting, so `main` stays the boundary.

    A parser made `signed` (the one of `tag`) reads a word like `-best` that is none of
    its options as a positional word, and its positional words may come before, between
    and after its options.
    """

    signed = False
    _intermixing = False

    def error(self, message: str) -> None:  # type: ignore[override]
        typo = _INVALID_CHOICE.match(message)
        hint = None
        if typo:
            hint = did_you_mean(typo[1], re.findall(r"'([^']*)'", typo[2]))
        shown = f"{message}\n  hint: {hint}" if hint else message
        raise UsageError(f"{shown}\n{self.format_usage().rstrip()}")

    def _parse_optional(self, arg_string: str) -> Any:
        if self.signed and is_signed_word(arg_string, self._option_string_actions):
            return None
        return super()._parse_optional(arg_string)

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        if not self.signed or self._intermixing:
            return super().parse_known_args(args, namespace)
        self._intermixing = True  # it calls back into this method (Python < 3.13)
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


_INVALID_CHOICE = re.compile(r"argument [^:]+: invalid choice: '(.*)' \(choose from (.*)\)$")


def is_signed_word(word: str, options: Mapping[str, argparse.Action]) -> bool:
    """`-best`: one dash and no option of the parser (`--x` stays an option, or unknown)."""
    return word[:1] == "-" and word[:2] != "--" and word.split("=", 1)[0] not in options


class RunsAndChanges(argparse.Action):
    """The words of `tag`: run names (`args.runs`) and changes, +TAG or -TAG (`args.changes`)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        words = list(values)
        namespace.runs = [w for w in words if w[:1] not in ("+", "-")]
        namespace.changes = [w for w in words if w[:1] in ("+", "-")]

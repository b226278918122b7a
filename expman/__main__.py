"""`python -m expman`: the same as the `expman` command; with an entry point's name first
(`expman.entries`: `_point`, `_array-task`...), that process, before the command line is
imported. The names are hidden: no `--help` shows them."""

import sys
from importlib import import_module

from expman.entries import MODULES


def _main(argv: list[str]) -> int:
    if argv and argv[0] in MODULES:
        code: int = import_module(MODULES[argv[0]]).main(argv[1:])
        return code
    from expman.cli.main import entry

    return entry(argv)


raise SystemExit(_main(sys.argv[1:]))

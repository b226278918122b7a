"""Importing doit without the parts of it expman never uses.

doit imports, whether they are used or not, `importlib.metadata` (to look plugins up:
expman runs doit with its plugin look-up answering nothing, `engine._own_parts`),
`cloudpickle` when it is installed (to send tasks to worker processes: expman runs
doit's tasks in its own process) and `pdb` (for `--pdb`, which expman never passes).
Leaving them out made the import of `expman run`'s command 0.90 x as long
(docs/performance.md). While `lighter()` is held, doit's import finds stand-ins for them: the
module's attribute, or `importlib.metadata.entry_points`, imports the real module when
it is first used (which then stays), and `cloudpickle` is missing, so that doit takes
the standard `pickle`. A module imported already is left as it is; once doit is
imported, the stand-ins leave `sys.modules`: any later import finds the real modules.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import types
from collections.abc import Iterator
from typing import Any


class _Later(types.ModuleType):
    """A module that is imported when something of it is first used."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # the import system asking (`__path__`...): not a use
            raise AttributeError(name)
        return getattr(_real(self.__name__), name)


def _real(name: str) -> types.ModuleType:
    """The module `name` itself, imported now if need be."""
    if isinstance(sys.modules.get(name), _Later):
        del sys.modules[name]
    return importlib.import_module(name)


def _entry_points(*args: Any, **kwargs: Any) -> Any:
    """`importlib.metadata.entry_points`, imported when called."""
    return _real("importlib.metadata").entry_points(*args, **kwargs)


def _stand_ins() -> dict[str, types.ModuleType | None]:
    metadata = _Later("importlib.metadata")
    metadata.entry_points = _entry_points  # type: ignore[attr-defined]  # doit's from-import
    return {"importlib.metadata": metadata, "pdb": _Later("pdb"), "cloudpickle": None}


@contextlib.contextmanager
def lighter() -> Iterator[None]:
    """While held, an import of doit leaves out what expman never uses of it."""
    stand_ins = {name: s for name, s in _stand_ins().items() if name not in sys.modules}
    for name, stand_in in stand_ins.items():
        sys.modules[name] = stand_in  # type: ignore[assignment]  # None: not installed
    try:
        yield
    finally:
        for name, stand_in in stand_ins.items():
            if name in sys.modules and sys.modules[name] is stand_in:
                del sys.modules[name]

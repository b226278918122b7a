"""Importing doit without the parts of it expman never uses.

doit imports, whether they are used or not, `importlib.metadata` (to look plugins up:
expman runs doit with its plugin look-up answering nothing, `engine._own_parts`),
`cloudpickle` when it is installed (to send tasks to worker processes: expman runs
doit's tasks in its own process), `multiprocessing` (the same: with it `socket` and
`pickle`'s helpers), `pdb` (for `--pdb`, which expman never passes), `configparser` (for
config files: expman gives doit none) and `string` (for the templates of its shell
completion). Leaving them out made the import of `expman run`'s command 0.90 x as long;
leaving out `multiprocessing`, `configparser` and `string` too spared another 6.8 ms
(docs/performance.md). While `lighter()` is held, doit's import finds stand-ins for them:
the module's attribute, or one of the names doit imports from it (`from multiprocessing
import Process`), imports the real module when it is first used or called (which then
stays), and `cloudpickle` is missing, so that doit takes the standard `pickle`. A module
imported already is left as it is; once doit is imported, the stand-ins leave
`sys.modules`: any later import finds the real modules.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import types
from collections.abc import Callable, Iterator
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


def _deferred(module: str, name: str) -> Callable[..., Any]:
    """`module.name`, called: the module imported at the first call."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(_real(module), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    return call


# The modules doit imports and expman never uses, and the names doit imports from each
# (`from configparser import ConfigParser`): each a function that imports the module.
_LATER = {
    "importlib.metadata": ("entry_points",),
    "pdb": (),
    "multiprocessing": ("Process", "Queue"),
    "configparser": ("ConfigParser",),
    "string": ("Template",),
}


def _stand_ins() -> dict[str, types.ModuleType | None]:
    stand_ins: dict[str, types.ModuleType | None] = {"cloudpickle": None}
    for module, names in _LATER.items():
        stand_in = _Later(module)
        for name in names:
            setattr(stand_in, name, _deferred(module, name))
        stand_ins[module] = stand_in
    return stand_ins


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

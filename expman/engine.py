"""The doit entry point of experiments: the `dodo.py` that `expman init` writes imports
`dodo_namespace` from here, a name that stays whatever the layout of the package.

The stage graph itself is built by `expman.running.engine`, the only module importing doit.
"""

from expman.running.engine import dodo_namespace

__all__ = ["dodo_namespace"]

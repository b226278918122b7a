"""The archive from Python: runs as tables, one run as an object, curves in long format.

Owns the read API that `expman.open` hands out (the package's `__getattr__` imports it
when first used, so `import expman` stays free): `Archive` (opened by path or found from
the working folder), `Table` (rows and columns, to pandas or polars), `Run` (a record,
its files, its series). It reads only: it takes no lock a writer waits on and repairs
nothing. It may import the store, the observers, the expfile's location and the bottom;
nothing in expman imports it but the package's lazy attribute.
"""

from __future__ import annotations

from expman.api.archive import Archive, DamagedRecordWarning, open
from expman.api.run import Run
from expman.api.table import Table

__all__ = ["Archive", "DamagedRecordWarning", "Run", "Table", "open"]

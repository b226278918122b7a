"""`expman schema`: print the expfile schema, or where it is."""

from __future__ import annotations

from typing import TextIO

from expman import config
from expman.output import write_line


def schema(*, path_only: bool, out: TextIO) -> int:
    """Print the schema's JSON text, or with `path_only` the path of the file."""
    if path_only:
        write_line(out, str(config.schema_path()))
    else:
        out.write(config.schema_path().read_text(encoding="utf-8"))
    return 0

"""`expman schema`: print the expfile schema, or where it is."""

from __future__ import annotations

from typing import TextIO

from expman import config, reference
from expman.output import write_line


def schema(*, path_only: bool, as_markdown: bool, out: TextIO) -> int:
    """Print the schema's JSON text, the path of the file, or a Markdown field reference."""
    if path_only:
        write_line(out, str(config.schema_path()))
    elif as_markdown:
        out.write(reference.markdown(config.schema()))
    else:
        out.write(config.schema_path().read_text(encoding="utf-8"))
    return 0

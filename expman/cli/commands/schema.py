"""`expman schema`: print the expfile schema, or where it is."""

from __future__ import annotations

import json
from typing import TextIO

from expman.expfile import loading, reference
from expman.output import write_line
from expman.store import record


def schema(*, path_only: bool, as_markdown: bool, of_record: bool, out: TextIO) -> int:
    """Print a schema's JSON text, the path of its file, or a Markdown field reference:
    the expfile's, or with `of_record` the run record's."""
    path = record.SCHEMA_PATH if of_record else loading.schema_path()
    if path_only:
        write_line(out, str(path))
    elif as_markdown:
        data = json.loads(path.read_text(encoding="utf-8"))
        out.write(reference.record_fields(data) if of_record else reference.markdown(data))
    else:
        out.write(path.read_text(encoding="utf-8"))
    return 0

"""The doit state file expman makes before doit runs is the one doit makes itself."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from doit.dependency import JSONCodec, SqliteDB

from expman.running import engine
from expman.running.state import DOIT_DB, STATE_DIR


def _schema(path: Path) -> list[tuple[str, str]]:
    connection = sqlite3.connect(path)
    try:
        return connection.execute("select name, sql from sqlite_master order by name").fetchall()
    finally:
        connection.close()


def test_the_state_expman_makes_is_the_one_doit_makes_and_keeps_what_doit_saves(
    tmp_path: Path,
) -> None:
    """expman makes doit's state file (unsynced) where there is none: doit finds its own
    table in it, saves into it, and reads back what it saved."""
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    for root in (ours, theirs):
        (root / STATE_DIR).mkdir(parents=True)
    engine._make_state(ours)
    SqliteDB(str(theirs / DOIT_DB), JSONCodec()).dump()
    assert _schema(ours / DOIT_DB) == _schema(theirs / DOIT_DB)
    saved = SqliteDB(str(ours / DOIT_DB), JSONCodec())
    saved.set("train", "result", {"loss": 0.5})
    saved.dump()
    assert SqliteDB(str(ours / DOIT_DB), JSONCodec()).get("train", "result") == {"loss": 0.5}


def test_an_existing_state_is_left_as_it_is(tmp_path: Path) -> None:
    """A state doit already keeps is never made again: what it holds stays."""
    (tmp_path / STATE_DIR).mkdir()
    kept = SqliteDB(str(tmp_path / DOIT_DB), JSONCodec())
    kept.set("train", "result", "done")
    kept.dump()
    before = (tmp_path / DOIT_DB).read_bytes()
    engine._make_state(tmp_path)
    assert (tmp_path / DOIT_DB).read_bytes() == before

"""doit as expman embeds it: the state file expman makes before doit runs is the one doit
makes itself, and expman's loader makes the tasks doit's own loader makes."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

from doit.dependency import JSONCodec, SqliteDB
from doit.loader import load_tasks

from expman.expfile import loading, location
from expman.running import engine
from expman.running.session import Session
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


EXPFILE = """\
version: 1
name: loading
stages:
  pre-run:
    - name: prepare
      cmd: cp raw.txt clean.txt
      deps: [raw.txt]
      targets: [clean.txt]
    - name: build
      cmd: "true"
      deps: [clean.txt]
  run: {cmd: "true"}
  fetch: {cmd: "true"}
"""


def test_expmans_loader_makes_the_tasks_doits_own_loader_makes(
    experiment: Callable[..., Path],
) -> None:
    """expman's loader makes its tasks without reading its own source: they are the tasks
    doit's loader makes of the same namespace (names, order, actions, dependencies)."""
    root = experiment(EXPFILE, **{"raw.txt": "x\n"})
    config = loading.load(root / location.EXPFILE, location.EXPFILE)

    def made() -> dict[str, Any]:
        return engine.namespace(config, Session(config, (io.StringIO(), io.StringIO())))

    def described(tasks: list[Any]) -> list[tuple[Any, ...]]:
        return [
            (t.name, len(t.actions), sorted(t.file_dep), t.targets, t.task_dep, t.setup_tasks)
            for t in tasks
        ]

    ours = described(engine._tasks(made()))
    assert ours == described(load_tasks(made()))
    assert [name for name, *_ in ours if not name.startswith("_")] == [
        "pre-run",
        "pre-run:prepare",
        "pre-run:build",
        "run",
        "fetch",
    ]


LEFT_OUT = ("importlib.metadata", "pdb", "cloudpickle", "multiprocessing", "configparser", "string")
IMPORT_ENGINE = """\
import importlib.util, json, sys
LEFT_OUT = {left_out!r}
{before}
had = [m for m in LEFT_OUT if m in sys.modules]
import expman.running.engine
left_out = [m for m in LEFT_OUT if m not in sys.modules]
import importlib.metadata
import doit.action, doit.cmd_completion, doit.doit_cmd, doit.plugin, doit.runner
found = doit.plugin.entry_points_impl()(group="console_scripts")
if importlib.util.find_spec("cloudpickle") is not None:
    import cloudpickle
print(json.dumps({{
    "left_out": left_out,
    "had": had,
    "metadata": importlib.metadata.version("doit"),
    "same_entry_points": sorted(e.name for e in found)
    == sorted(e.name for e in importlib.metadata.entry_points(group="console_scripts")),
    "doits_own": [
        doit.plugin.entry_points is importlib.metadata.entry_points,
        doit.action.pdb is sys.modules.get("pdb"),
    ],
    "pdb": doit.action.pdb.Pdb.__module__,
    "pickle": doit.runner.pickle_dumps.__module__,
    "deferred": [
        type(doit.runner.MRunner.Queue()).__module__,
        doit.runner.MRunner.Child is doit.runner.Process,
        type(doit.doit_cmd.ConfigParser()).__module__,
        doit.cmd_completion.Template("$a-$b").substitute(a=1, b=2),
    ],
}}))
"""


def _import_engine(before: str = "") -> dict[str, Any]:
    """What a fresh interpreter finds once it imported the engine (after `before`): one
    started without coverage's measurement, which imports some of these modules itself."""
    plain = {k: v for k, v in os.environ.items() if not k.startswith(("COVERAGE_", "COV_CORE_"))}
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_ENGINE.format(before=before, left_out=LEFT_OUT)],
        capture_output=True,
        text=True,
        env=plain,
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def test_doit_is_imported_without_what_expman_never_uses_of_it() -> None:
    """Importing the engine imports doit without `importlib.metadata`, `pdb`,
    `cloudpickle`, `multiprocessing`, `configparser` or `string`; each is there, itself,
    for whatever uses it afterwards (doit's plugin look-up and the names doit imported
    from them included), and doit pickles with the standard `pickle`."""
    found = _import_engine()
    assert found["left_out"] == list(LEFT_OUT)
    assert found["deferred"] == ["multiprocessing.queues", True, "configparser", "1-2"]
    assert found["metadata"] == version("doit")
    assert found["same_entry_points"]
    assert found["doits_own"] == [False, False]  # stand-ins, which reach the real ones
    assert found["pdb"] == "pdb"
    assert found["pickle"] in ("_pickle", "pickle")


def test_a_module_imported_before_doit_is_left_as_it_is() -> None:
    """A program that imported `importlib.metadata` and `pdb` already keeps them: doit
    is given them, not stand-ins."""
    found = _import_engine("import importlib.metadata, pdb")  # pdb imports `string` too
    assert found["had"] == ["importlib.metadata", "pdb", "string"]
    assert found["left_out"] == ["cloudpickle", "multiprocessing", "configparser"]
    assert found["doits_own"] == [True, True]
    assert found["same_entry_points"]

"""Start-up: a command imports only what it uses (issue: speed). Measured in a fresh
interpreter, after the experiment has been used once (its `.expman/` caches exist)."""

from __future__ import annotations

import gc
import importlib.util
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import RunCli, records

PROBE = """\
import json, sys
from expman.cli.main import main
code = main(sys.argv[1:])
heavy = ("yaml", "doit", "jsonschema", "jmespath")
print(json.dumps([code, sorted(m for m in heavy if m in sys.modules)]), file=sys.stderr)
"""

EXPFILE = """\
version: 1
name: startup
vars: {X: 1}
stages:
  run: {cmd: "true"}
  fetch: {cmd: "true"}
"""


def _imports(root: Path, *args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=root, capture_output=True, text=True
    )
    code, heavy = json.loads(done.stderr.strip().splitlines()[-1])
    assert code == 0, done.stderr
    return heavy  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("command", "allowed"),
    [
        (["--version"], []),
        (["list"], ["jmespath"]),
        (["query", "[].id"], ["jmespath"]),
        (["show", "last"], ["jsonschema"]),  # it checks the record against its schema
        (["logs", "last"], []),
        (["watch", "--once"], []),
        (["status"], ["doit"]),  # it asks doit's state which pre-run steps would run
    ],
)
def test_a_command_imports_only_what_it_uses(
    experiment: Callable[..., Path], run_cli: RunCli, command: list[str], allowed: list[str]
) -> None:
    root = experiment(EXPFILE)
    assert run_cli("run")[0] == 0
    assert run_cli("end", "-m", "x")[0] == 0
    assert _imports(root, *command) == allowed


@pytest.mark.slow
def test_run_and_end_import_no_yaml_while_the_expfile_is_unchanged(
    experiment: Callable[..., Path], run_cli: RunCli
) -> None:
    root = experiment(EXPFILE)
    assert run_cli("run")[0] == 0
    assert run_cli("end", "-m", "x")[0] == 0
    assert _imports(root, "run") == ["doit"]
    assert _imports(root, "end", "-m", "x") == []
    assert _imports(root, "run", "-s", "X=2") == ["doit", "yaml"]  # YAML types the value
    assert _imports(root, "end") == []
    (root / "expfile.yaml").write_text(EXPFILE + "observations: seen\n")
    assert _imports(root, "run") == ["doit", "jsonschema", "yaml"]  # changed: checked again
    assert _imports(root, "end") == ["yaml"]  # the observations are read and cleared
    assert records(root)[-1]["observations"] == "seen"
    assert 'observations: ""' in (root / "expfile.yaml").read_text()  # changed again
    assert _imports(root, "run") == ["doit", "jsonschema", "yaml"]
    assert _imports(root, "end") == ["yaml"]  # the word is there, so the text is read
    assert _imports(root, "run") == ["doit"]


def test_end_imports_no_uuid_platform_or_secrets(
    experiment: Callable[..., Path], run_cli: RunCli
) -> None:
    """Each cost `end` (the command that runs after every run) a few ms: uids are made
    from `os.urandom` and the platform is recorded by `run`."""
    root = experiment(EXPFILE)
    assert run_cli("run")[0] == 0
    assert run_cli("end", "-m", "x")[0] == 0
    assert run_cli("run")[0] == 0
    # Only what expman imports counts: under coverage the interpreter starts with
    # `coverage` loaded, and it imports `platform` itself.
    probe = "import sys\nbefore = set(sys.modules)\n" + PROBE.replace(
        "m in sys.modules", "m in sys.modules and m not in before"
    ).replace('("yaml", "doit", "jsonschema", "jmespath")', '("uuid", "platform", "secrets")')
    done = subprocess.run(
        [sys.executable, "-c", probe, "end", "-m", "y"], cwd=root, capture_output=True, text=True
    )
    assert json.loads(done.stderr.strip().splitlines()[-1]) == [0, []], done.stderr


def test_the_archive_setting_follows_the_expfile(
    experiment: Callable[..., Path], run_cli: RunCli
) -> None:
    root = experiment(EXPFILE)
    assert run_cli("run")[0] == 0
    assert run_cli("end", "-m", "x")[0] == 0
    code, out, _ = run_cli("query", "length(@)")
    assert code == 0 and out.strip() == "1"
    (root / "expfile.yaml").write_text(EXPFILE + "archive: elsewhere\n")
    code, out, err = run_cli("query", "length(@)")
    assert code == 0 and out.strip() == "0", err  # the new archive, not the cached one
    (root / "expfile.yaml").write_text(EXPFILE)
    code, out, _ = run_cli("query", "length(@)")
    assert out.strip() == "1"


def test_import_expman_loads_no_read_api_until_it_is_used() -> None:
    """`import expman` (scripts call `expman.log`) stays free; `expman.open` brings the
    read API."""
    probe = (
        "import json, sys, expman\n"
        "heavy = ('expman.api', 'expman.store', 'jmespath')\n"
        "before = [m for m in heavy if m in sys.modules]\n"
        "expman.open\n"
        "print(json.dumps([before, 'expman.api' in sys.modules]))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == [[], True]


COLLECTOR = """\
import atexit, gc, json, sys
seen = {}

def hook(event, args):
    if event == "import" and args[0] == "expman.running.ending":  # by `end`'s module
        seen.setdefault("importing", gc.isenabled())
    if event == "open" and str(args[0]).endswith("run.json"):
        seen.setdefault("working", gc.isenabled())

sys.addaudithook(hook)
# Registered first, so run last: after `entry` returned.
atexit.register(lambda: print(json.dumps({**seen, "frozen": gc.get_freeze_count()})))
from expman.cli.main import entry
sys.exit(entry(sys.argv[1:]))
"""


def test_the_program_imports_with_the_collector_asleep_and_works_with_it_awake(
    experiment: Callable[..., Path], run_cli: RunCli
) -> None:
    """`expman` as a process of its own: its modules imported without the cyclic
    collector walking them (and they are frozen), the command's work done with it, and
    what is left frozen at exit so that the interpreter does not walk it either."""
    root = experiment(EXPFILE)
    assert run_cli("run")[0] == 0
    done = subprocess.run(
        [sys.executable, "-c", COLLECTOR, "end", "-m", "y"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["importing"] is False and seen["working"] is True
    assert seen["frozen"] > 10_000  # the modules' objects, and the rest at exit
    assert records(root)[-1]["observations"] == "y"


def test_main_in_another_programs_process_leaves_its_collector_alone(run_cli: RunCli) -> None:
    frozen = gc.get_freeze_count()
    assert run_cli("schema", "--path")[0] == 0
    assert gc.isenabled() and gc.get_freeze_count() == frozen


def test_every_command_names_the_module_imported_before_it_runs() -> None:
    from expman.cli import main
    from expman.cli.examples import EXAMPLES

    assert set(main._MODULES) == set(EXAMPLES)
    for command, module in main._MODULES.items():
        assert importlib.util.find_spec(module) is not None, command


def test_sweep_status_imports_the_status_alone_before_it_runs(
    experiment: Callable[..., Path], run_cli: RunCli
) -> None:
    """The program imports a command's module before it runs: for `sweep status`, the
    status's, not the sweep machinery's."""
    root = experiment(EXPFILE)
    assert run_cli("sweep", "-s", "X=1,2")[0] == 0
    probe = (
        "import json, sys\nfrom expman.cli.main import entry\ncode = entry(sys.argv[1:])\n"
        "print(json.dumps([code, 'expman.cli.commands.sweep' in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, "sweep", "status"], cwd=root, capture_output=True, text=True
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [0, False], done.stderr

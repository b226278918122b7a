"""`expman run`: skipping (SPEC §5) and the stages' environment (SPEC §3), with real doit."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import RunCli, git, records, steps

SKIP = """\
version: 1
name: skip
vars:
  LR: 0.1
  SEED: 1
export: [SEED]
env: {MODE: fast}
stages:
  pre-run:
    - name: data
      cmd: echo ran >> pre.log; mkdir -p data; cat src/*.txt > data/clean.txt
      deps: [src/, prepare.cfg]
      targets: [data/clean.txt]
    - name: stats
      script: stats.sh
      deps: ["data/*.txt"]
  run: {cmd: "true"}
  fetch: {cmd: "true"}
"""
FILES = {
    "src__a.txt": "a\n",
    "src__b.txt": "b\n",
    "prepare.cfg": "x=1\n",
    "stats.sh": "#!/bin/sh\nwc -l data/clean.txt\n",
}
Experiment = Callable[..., Path]


def _status(run_cli: RunCli, *args: str) -> dict[str, str]:
    code, _, err = run_cli("run", *args)
    assert code == 0, err
    return steps(records(Path.cwd())[-1])


@pytest.fixture
def skip(experiment: Experiment, run_cli: RunCli) -> Path:
    root = experiment(SKIP, **FILES)
    assert _status(run_cli) == {
        "pre-run:data": "ran",
        "pre-run:stats": "ran",
        "run": "ran",
        "fetch": "ran",
    }
    return root


def test_unchanged_steps_are_skipped(skip: Path, run_cli: RunCli) -> None:
    assert _status(run_cli)["pre-run:data"] == "skipped"
    assert _status(run_cli)["pre-run:stats"] == "skipped"
    assert (skip / "pre.log").read_text() == "ran\n"


def test_touched_but_identical_dep_is_skipped(skip: Path, run_cli: RunCli) -> None:
    later = time.time() + 5
    os.utime(skip / "src" / "a.txt", (later, later))
    (skip / "prepare.cfg").write_text("x=1\n")  # rewritten, same bytes
    assert _status(run_cli)["pre-run:data"] == "skipped"


def test_one_changed_byte_reruns(skip: Path, run_cli: RunCli) -> None:
    (skip / "prepare.cfg").write_text("x=2\n")
    result = _status(run_cli)
    assert result["pre-run:data"] == "ran"
    assert result["pre-run:stats"] == "skipped"  # its input came out the same


def test_new_file_made_by_an_earlier_step_reruns(skip: Path, run_cli: RunCli) -> None:
    text = (skip / "expfile.yaml").read_text()
    text = text.replace("> data/clean.txt", "> data/clean.txt; echo x > data/extra.txt")
    (skip / "expfile.yaml").write_text(text)
    result = _status(run_cli)
    assert (result["pre-run:data"], result["pre-run:stats"]) == ("ran", "ran")
    result = _status(run_cli)
    assert (result["pre-run:data"], result["pre-run:stats"]) == ("skipped", "skipped")


def test_new_file_in_a_folder_dep_reruns(skip: Path, run_cli: RunCli) -> None:
    (skip / "src" / "c.txt").write_text("c\n")
    result = _status(run_cli)
    assert result["pre-run:data"] == "ran"
    assert (skip / "data" / "clean.txt").read_text() == "a\nb\nc\n"


def test_changed_output_of_one_step_reruns_the_next(skip: Path, run_cli: RunCli) -> None:
    (skip / "src" / "b.txt").write_text("B\n")
    assert _status(run_cli) == {
        "pre-run:data": "ran",
        "pre-run:stats": "ran",
        "run": "ran",
        "fetch": "ran",
    }


def test_missing_target_reruns(skip: Path, run_cli: RunCli) -> None:
    (skip / "data" / "clean.txt").unlink()
    assert _status(run_cli)["pre-run:data"] == "ran"


def test_changed_command_reruns(skip: Path, run_cli: RunCli) -> None:
    text = (skip / "expfile.yaml").read_text().replace("echo ran >>", "echo again >>")
    (skip / "expfile.yaml").write_text(text)
    assert _status(run_cli)["pre-run:data"] == "ran"


def test_changed_script_content_reruns(skip: Path, run_cli: RunCli) -> None:
    (skip / "stats.sh").write_text("#!/bin/sh\nwc -c data/clean.txt\n")
    result = _status(run_cli)
    assert (result["pre-run:data"], result["pre-run:stats"]) == ("skipped", "ran")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("  SEED: 1\n", "  SEED: 2\n"),  # an exported var
        ("env: {MODE: fast}", "env: {MODE: slow}"),  # the experiment-wide env
        (
            "      targets: [data/clean.txt]\n",
            "      targets: [data/clean.txt]\n      env: {EXTRA: '1'}\n",
        ),  # the step's env
    ],
    ids=["exported-var", "env", "step-env"],
)
def test_changed_environment_reruns(skip: Path, run_cli: RunCli, old: str, new: str) -> None:
    (skip / "expfile.yaml").write_text((skip / "expfile.yaml").read_text().replace(old, new))
    assert _status(run_cli)["pre-run:data"] == "ran"


def test_override_of_an_exported_var_reruns(skip: Path, run_cli: RunCli) -> None:
    assert _status(run_cli, "-s", "SEED=7")["pre-run:data"] == "ran"


def test_step_sees_only_its_own_export(experiment: Experiment, run_cli: RunCli) -> None:
    text = SKIP.replace(
        "      targets: [data/clean.txt]\n", "      targets: [data/clean.txt]\n      export: []\n"
    )
    text = text.replace('  run: {cmd: "true"}', '  run: {cmd: "env > env.txt", export: [LR]}')
    root = experiment(text, **FILES)
    assert run_cli("run")[0] == 0
    seen = (root / "env.txt").read_text()
    assert "LR=0.1" in seen.splitlines() and "SEED=" not in seen
    assert _status(run_cli, "-s", "SEED=9")["pre-run:data"] == "skipped"  # it sees no var


def test_var_that_is_not_exported_does_not_rerun(skip: Path, run_cli: RunCli) -> None:
    assert _status(run_cli, "-s", "LR=0.5")["pre-run:data"] == "skipped"


def test_force_runs_everything(skip: Path, run_cli: RunCli) -> None:
    result = _status(run_cli, "--force")
    assert (result["pre-run:data"], result["pre-run:stats"]) == ("ran", "ran")


def test_failed_step_is_not_remembered_as_done(experiment: Experiment, run_cli: RunCli) -> None:
    root = experiment(SKIP.replace("cat src/*.txt", "test -e go && cat src/*.txt"), **FILES)
    assert run_cli("run")[0] == 1
    assert steps(records(root)[-1]) == {
        "pre-run:data": "failed",
        "pre-run:stats": "not-run",
        "run": "not-run",
        "fetch": "ran",
    }
    (root / "go").write_text("")
    assert _status(run_cli)["pre-run:data"] == "ran"


def test_a_failed_step_raises_no_alarm_about_doits_state(
    experiment: Experiment, run_cli: RunCli
) -> None:
    """doit forgets a failed step in a transaction of its own: the steps after it are
    remembered as usual, and nothing says that the state is gone."""
    experiment(SKIP.replace('run: {cmd: "true"}', 'run: {cmd: "exit 1"}'), **FILES)
    code, _, err = run_cli("run")
    assert code == 1
    assert err.splitlines()[1:] == [
        "── pre-run:data",
        "── pre-run:stats",
        "── run",
        "expman: run failed with exit code 1",
        "── fetch",
        "expman: run 0001 failed",
    ]


def test_only_runs_one_stage(skip: Path, run_cli: RunCli) -> None:
    (skip / "prepare.cfg").write_text("x=3\n")
    assert _status(run_cli, "--only", "run") == {"run": "ran"}
    assert _status(run_cli, "--only", "pre-run") == {
        "pre-run:data": "ran",
        "pre-run:stats": "skipped",
    }


def test_only_a_stage_the_expfile_lacks_runs_nothing(
    experiment: Experiment, run_cli: RunCli
) -> None:
    """With fetch optional, `--only fetch` may name no step: it must not run them all."""
    root = experiment("version: 1\nname: bare\nstages:\n  run: {cmd: 'touch ran'}\n")
    assert run_cli("run", "--only", "fetch") == (
        2,
        "",
        "expman: --only fetch: expfile.yaml has no fetch stage (it has: run)\n",
    )
    assert not (root / "ran").exists()
    assert records(root) == []


def test_missing_dependency_is_a_usage_error(experiment: Experiment, run_cli: RunCli) -> None:
    files = {k: v for k, v in FILES.items() if k != "prepare.cfg"}
    root = experiment(SKIP, **files)
    code, _, err = run_cli("run")
    assert code == 2
    assert "pre-run step 'data': the dependency 'prepare.cfg' matches no file" in err
    assert records(root) == []


def test_status_says_why_without_running(skip: Path, run_cli: RunCli) -> None:
    (skip / "prepare.cfg").write_text("x=9\n")
    (skip / "stats.sh").write_text("#!/bin/sh\necho changed\n")
    before = records(skip)
    code, out, _ = run_cli("status")
    assert code == 0
    assert "pre-run:data   would run: changed: prepare.cfg" in out
    assert "pre-run:stats  would run: changed: stats.sh" in out
    assert "open run 0001: succeeded, 1 attempt, started" in out
    assert records(skip) == before
    assert (skip / "pre.log").read_text() == "ran\n"
    (skip / "prepare.cfg").write_text("x=1\n")
    (skip / "stats.sh").write_text(FILES["stats.sh"])
    assert "pre-run:data   up to date: would be skipped" in run_cli("status")[1]


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
@pytest.mark.parametrize("command", ["run", "status"])
def test_damaged_doit_state_is_set_aside(
    skip: Path, run_cli: RunCli, damage: str, command: str
) -> None:
    """doit's state is a cache: one that cannot be read (a power cut, a bad disk) costs
    re-running the pre-run steps, never a crash, and the damaged file is kept."""
    db = skip / ".expman" / "doit.db"
    damaged = os.urandom(3000) if damage == "garbage" else db.read_bytes()[:1500]
    db.write_bytes(damaged)
    code, out, err = run_cli(command)
    assert code == 0, err
    if command == "status":
        assert "pre-run:data   would run: it has not run successfully yet" in out
    else:
        assert steps(records(skip)[-1])["pre-run:data"] == "ran"
        assert (skip / "pre.log").read_text() == "ran\nran\n"
        assert _status(run_cli)["pre-run:data"] == "skipped"  # remembered again
    (kept,) = (skip / ".expman").glob("doit.db.damaged-*")
    assert kept.read_bytes() == damaged
    assert "expman: warning: .expman/doit.db cannot be read" in err
    assert f"moved to .expman/{kept.name}" in err


def test_user_doit_settings_do_not_change_expman(skip: Path, run_cli: RunCli) -> None:
    (skip / "pyproject.toml").write_text(
        '[tool.doit]\nbackend = "json"\ndep_file = "elsewhere.json"\nverbosity = 0\n'
        "continue = false\n"
    )
    (skip / "doit.cfg").write_text("[GLOBAL]\nbackend = json\ndep_file = other.json\n")
    assert _status(run_cli)["pre-run:data"] == "skipped"
    assert not (skip / "elsewhere.json").exists() and not (skip / "other.json").exists()


ENV = """\
version: 1
name: env-test
vars:
  TEXT: hello world
  NUMBER: 0.01
  FLAG: true
  LIST: [1, two]
  MAP: {a: 1}
  HIDDEN: secret
  HOSTILE: $(touch pwned)
export: [TEXT, NUMBER, FLAG, LIST, MAP, HOSTILE]
env:
  MODE: fast
  SHARED: experiment
stages:
  run:
    cmd: env > env.txt
    env: {SHARED: step}
  fetch: {cmd: "cp env.txt \\"$EXPMAN_OUTPUTS\\"/; echo $HOSTILE"}
"""


SEEN = {
    "TEXT",
    "NUMBER",
    "FLAG",
    "LIST",
    "MAP",
    "HIDDEN",
    "HOSTILE",
    "MODE",
    "SHARED",
    "PYTHONUNBUFFERED",
}


def _env_seen(root: Path) -> dict[str, str]:
    lines = (root / "env.txt").read_text().splitlines()
    pairs = dict(line.split("=", 1) for line in lines if "=" in line)
    return {k: v for k, v in pairs.items() if k in SEEN or k.startswith("EXPMAN_")}


def test_stages_see_vars_env_and_expman_variables(experiment: Experiment, run_cli: RunCli) -> None:
    root = experiment(ENV)
    assert run_cli("run")[0] == 0
    seen = _env_seen(root)
    run_dir = root / "runs" / "0001"
    assert seen == {
        "TEXT": "hello world",
        "NUMBER": "0.01",
        "FLAG": "true",
        "LIST": '[1, "two"]',
        "MAP": '{"a": 1}',
        "HOSTILE": "$(touch pwned)",
        "MODE": "fast",
        "SHARED": "step",
        "EXPMAN_RUN_ID": "0001",
        "EXPMAN_RUN_DIR": str(run_dir.resolve()),
        "EXPMAN_OUTPUTS": str((root / "outputs").resolve()),
        "EXPMAN_METRICS": str(run_dir.resolve() / "live" / "series.jsonl"),
        "EXPMAN_STAGE": "run",
        "EXPMAN_STEP": "run",
        "EXPMAN_EXPERIMENT": "env-test",
        "EXPMAN_RUN_UID": records(root)[0]["uid"],
        "PYTHONUNBUFFERED": "1",
    }
    assert not (root / "pwned").exists()
    assert (run_dir / "logs" / "fetch.out").read_text() == "$(touch pwned)\n"
    record = records(root)[0]
    assert record["env"]["LIST"] == '[1, "two"]' and "HIDDEN" not in record["env"]


def test_overrides_are_typed_recorded_and_snapshotted(
    experiment: Experiment, run_cli: RunCli
) -> None:
    root = experiment(ENV)
    code, _, err = run_cli("run", "-s", "NUMBER=0.5", "-s", "LIST=[3]", "-s", "TEXT=a: b")
    assert code == 0, err
    seen = _env_seen(root)
    assert (seen["NUMBER"], seen["LIST"], seen["TEXT"]) == ("0.5", "[3]", '{"a": "b"}')
    # the first line shows what the stages see: `a: b` became a mapping
    assert err.splitlines()[0] == 'expman: run 0001 (env-test): NUMBER=0.5 LIST=[3] TEXT={"a": "b"}'
    record = records(root)[0]
    assert record["overrides"] == {"NUMBER": 0.5, "LIST": [3], "TEXT": {"a": "b"}}
    assert record["vars"]["NUMBER"] == 0.5 and record["vars"]["FLAG"] is True
    snapshot = (root / "runs" / "0001" / "expfile.yaml").read_text()
    original = (root / "expfile.yaml").read_text()
    assert snapshot == original.replace("NUMBER: 0.01", "NUMBER: 0.5").replace(
        "LIST: [1, two]", "LIST: [3]"
    ).replace("TEXT: hello world", 'TEXT: {"a": "b"}')


def test_unknown_override_names_the_known_vars(experiment: Experiment, run_cli: RunCli) -> None:
    experiment(ENV)
    code, _, err = run_cli("run", "-s", "NUMBR=1")
    assert code == 2
    assert err == (
        "expman: -s NUMBR=1: no var named 'NUMBR' in the expfile "
        "(vars: FLAG, HIDDEN, HOSTILE, LIST, MAP, NUMBER, TEXT)\n"
    )


def test_start_overrides_apply_to_every_attempt(experiment: Experiment, run_cli: RunCli) -> None:
    root = experiment(ENV)
    assert run_cli("start", "-s", "NUMBER=2", "-m", "two")[0] == 0
    run_cli("run")
    assert _env_seen(root)["NUMBER"] == "2"
    run_cli("run", "-s", "FLAG=false")
    assert (_env_seen(root)["NUMBER"], _env_seen(root)["FLAG"]) == ("2", "false")
    record = records(root)[0]
    assert record["hypothesis"] == "two" and len(record["attempts"]) == 2
    assert record["overrides"] == {"NUMBER": 2, "FLAG": False}


def test_code_version_is_recorded(experiment: Experiment, run_cli: RunCli) -> None:
    root = experiment(ENV)
    head = git(root, "rev-parse", "HEAD").strip()
    run_cli("run")
    code = records(root)[0]["code"]
    assert code == {
        "commit": head,
        "branch": "main",
        "dirty": False,
        "patch": None,
        "omitted": [],
        "error": None,
    }  # what the run writes comes after the snapshot
    (root / "notes.txt").write_text("an idea\n")
    run_cli("run")
    code = records(root)[0]["code"]
    assert (code["dirty"], code["patch"]) == (True, "code.patch")
    assert "+an idea" in (root / "runs/0001/code.patch").read_text()


def test_outside_git_the_run_says_so(tmp_path: Path, run_cli: RunCli, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    (tmp_path / "expfile.yaml").write_text(ENV)
    code, _, err = run_cli("run")
    assert code == 0
    assert "expman: warning: not a git repository: the code version is not recorded" in err
    assert records(tmp_path)[0]["code"]["error"] == "not a git repository"


def test_record_snapshot_and_logs(experiment: Experiment, run_cli: RunCli) -> None:
    root = experiment(ENV.replace("cmd: env >", "cmd: echo to-err >&2; env >"))
    run_cli("run")
    run_dir = root / "runs" / "0001"
    record = json.loads((run_dir / "run.json").read_text())
    assert record["host"]["python"] and record["host"]["expman"] == record["expman_version"]
    assert "doit" in {name.lower() for name in json.loads((run_dir / "packages.json").read_text())}
    assert (run_dir / "logs" / "run.err").read_text() == "to-err\n"
    assert record["stages"][0]["logs"] == ["logs/run.out", "logs/run.err"]
    assert record["status"] == "succeeded" and record["ended"] is None


def test_damaged_doit_state_in_a_folder_with_uri_characters(tmp_path: Path) -> None:
    import io

    from expman.running import engine

    root = tmp_path / "a#b %c?d"
    (root / ".expman").mkdir(parents=True)
    (root / ".expman" / "doit.db").write_bytes(b"not a database at all" * 100)
    err = io.StringIO()
    engine._set_aside_if_damaged(root, err)
    assert not (root / ".expman" / "doit.db").exists()
    assert len(list((root / ".expman").glob("doit.db.damaged-*"))) == 1
    assert "cannot be read" in err.getvalue()


PLUGIN = """\
import os
from pathlib import Path

Path(os.environ["PLUGIN_LOADED"]).write_text("imported")


class Backend:  # would replace doit's sqlite3 back end, expman's state
    def __init__(self, *args, **kwargs):
        raise SystemExit("a doit plugin ran inside expman")
"""


@pytest.mark.slow
def test_installed_doit_plugins_do_not_change_expman(tmp_path: Path) -> None:
    """A package that registers doit plugins (here a back end named like the one expman
    uses) is neither imported nor used by `expman run`: expman runs doit with its own
    parts, as it runs it without config files. Scanning every package's entry points
    also cost each run time that grew with the environment."""
    import subprocess
    import sys

    site = tmp_path / "site"
    info = site / "hijack-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hijack\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[doit.BACKEND]\nsqlite3 = hijack:Backend\n"
        "[doit.REPORTER]\nloud = hijack:Backend\n[doit.COMMAND]\nloud = hijack:Backend\n"
    )
    (site / "hijack.py").write_text(PLUGIN)
    root = tmp_path / "exp"
    root.mkdir()
    (root / "expfile.yaml").write_text(
        "version: 1\nname: plugins\nstages:\n  pre-run: {cmd: 'true'}\n  run: {cmd: 'true'}\n"
        "  fetch: {cmd: 'true'}\n"
    )
    marker = tmp_path / "loaded"
    env = {**os.environ, "PYTHONPATH": str(site), "PLUGIN_LOADED": str(marker)}
    # The plugin is visible to Python there: doit itself would load it.
    seen = subprocess.run(
        [
            sys.executable,
            "-c",
            "from importlib.metadata import entry_points as e; "
            "print([p.name for p in e(group='doit.BACKEND')])",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "sqlite3" in seen.stdout
    expman = str(Path(sys.executable).parent / "expman")
    for _ in range(2):  # the second run decides from expman's state what to skip
        done = subprocess.run([expman, "run"], cwd=root, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert subprocess.run([expman, "end", "-m", "x"], cwd=root, env=env).returncode == 0
    listed = subprocess.run([expman, "doit", "list"], cwd=root, env=env, capture_output=True)
    assert listed.returncode == 0, listed.stderr
    assert not marker.exists()
    assert "pre-run: up to date, skipped" in done.stderr
    assert (root / ".expman" / "doit.db").is_file()


def test_expmans_own_report_never_makes_a_run_dirty(
    experiment: Experiment, run_cli: RunCli
) -> None:
    """An ignore file that does not list report.html (an older init's): the page
    `expman report` writes beside the expfile is expman's own, not code."""
    root = experiment("version: 1\nname: own\nstages:\n  run: {cmd: 'true'}\n")
    assert run_cli("run")[0] == 0 and run_cli("end", "-m", "one")[0] == 0
    assert run_cli("report")[0] == 0 and (root / "report.html").is_file()
    assert run_cli("run")[0] == 0
    code = records(root)[-1]["attempts"][-1]["code"]
    assert code["dirty"] is False
    assert not (root / "runs" / "0002" / "code.patch").exists()
    (root / "notes.txt").write_text("mine\n")  # a file of the user's: the code changed
    assert run_cli("run")[0] == 0
    assert records(root)[-1]["attempts"][-1]["code"]["dirty"] is True


def test_a_leading_zero_read_away_is_said(experiment: Experiment, run_cli: RunCli) -> None:
    root = experiment(SKIP, **FILES)
    code, _, err = run_cli("run", "-s", "SEED=010")
    assert code == 0, err
    assert err.splitlines()[:2] == [
        "expman: warning: -s SEED=010 is the number 10 (YAML 1.2): "
        "write -s SEED='\"010\"' to keep the text",
        "expman: run 0001 (skip): SEED=10",
    ]
    assert records(root)[0]["vars"]["SEED"] == 10


def test_a_command_typo_gets_a_did_you_mean(run_cli: RunCli) -> None:
    code, out, err = run_cli("rn")
    assert (code, out) == (2, "")
    assert err.splitlines()[1] == "  hint: did you mean 'run'?"


@pytest.mark.parametrize("command", ["run", "start"])
def test_a_value_given_apart_from_its_name_gets_a_hint(
    experiment: Experiment, run_cli: RunCli, command: str
) -> None:
    root = experiment(SKIP, **FILES)
    code, out, err = run_cli(command, "-s", "SEED", "1,2")
    assert (code, out) == (2, "")
    assert err.splitlines()[0] == (
        "expman: argument -s: 'SEED' is no NAME=VALUE: write -s SEED=VALUE, one word"
    )
    assert records(root) == []


def test_a_colon_in_a_plain_value_gets_a_hint(experiment: Experiment, run_cli: RunCli) -> None:
    experiment(SKIP.replace("name: skip", "name: skip\nhypothesis: LR: 0.1 is faster"), **FILES)
    code, _, err = run_cli("validate")
    assert (code, err) == (
        2,
        "expfile.yaml:3:15: $: mapping values are not allowed in this context\n"
        '  hint: quote the value: hypothesis: "LR: 0.1 is faster"\n',
    )

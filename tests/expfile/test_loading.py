"""The expfile loader: the corpus of invalid files with their exact messages, and the model."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from expman.errors import ConfigError, UsageError
from expman.expfile import loading, location
from expman.running.state import State
from tests.conftest import MINIMAL, RunCli

DATA = Path(__file__).parents[1] / "data" / "expfiles"
INVALID = sorted((DATA / "invalid").glob("*.yaml"))
VALID = sorted((DATA / "valid").glob("*.yaml"))
EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*/expfile.yaml"))


def test_corpus_is_large_enough() -> None:
    assert len(INVALID) >= 30
    assert all(path.with_suffix(".txt").is_file() for path in INVALID)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_expfile_gets_its_exact_message(
    path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(path.parent)
    code, out, err = run_cli("validate", path.name)
    assert (code, out) == (2, "")
    assert err == path.with_suffix(".txt").read_text(encoding="utf-8")
    assert "Traceback" not in err


@pytest.mark.parametrize("path", VALID + EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_valid_expfile_and_examples_load(path: Path) -> None:
    config = loading.load(path)
    assert config.steps_of("run")  # fetch is optional


def test_model_of_a_full_expfile() -> None:
    config = loading.load(DATA / "valid" / "full.yaml")
    assert config.name == "lr-study"
    assert [s.task_name for s in config.steps] == [
        "pre-run:data",
        "pre-run:build",
        "run",
        "post-run",
        "fetch",
    ]
    data, build = config.steps_of("pre-run")
    assert data.deps == ("prepare.py", "data/raw")
    assert data.targets == ("data/clean.csv",)
    assert build.args == ("--release",)
    assert build.env == {"CC": "gcc"}
    assert config.vars["RUN_DATE"] == "2026-11-24"  # dates stay text
    assert config.exported_env() == {
        "LR": "0.01",
        "EPOCHS": "10",
        "LAYERS": "[64, 32]",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "4",
    }


def test_export_defaults_to_every_var_and_values_become_text() -> None:
    text = MINIMAL.replace("  LR: 0.01\n", "  LR: 0.01\n  GPU: true\n  NAME: x\n  OPT: {a: 1}\n")
    config = loading.parse(text, "expfile.yaml")
    assert config.exported_env() == {"LR": "0.01", "GPU": "true", "NAME": "x", "OPT": '{"a": 1}'}


def test_single_pre_run_step_is_named_after_its_stage() -> None:
    config = loading.load(DATA / "valid" / "single-prerun.yaml")
    (step,) = config.steps_of("pre-run")
    assert (step.name, step.task_name, step.log_name) == ("pre-run", "pre-run", "pre-run")
    assert config.hypothesis == "" and config.observations == ""


@pytest.mark.parametrize(
    ("override", "value"),
    [
        ("LR=0.1", 0.1),
        ("LR=5", 5),
        ("LR=true", True),
        ("LR=abc", "abc"),
        ("LR=[1, 2]", [1, 2]),
        ("LR=", ""),
        ("LR=a: b", {"a": "b"}),
        ("LR=2026-01-01", "2026-01-01"),
        ("LR={oops", "{oops"),
    ],
)
def test_overrides_are_typed_as_yaml(override: str, value: object) -> None:
    config = loading.parse(MINIMAL, "expfile.yaml", [override])
    assert config.vars["LR"] == value
    assert config.overrides == {"LR": value}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("EPOCHS=3", "-s EPOCHS=3: no var named 'EPOCHS' in the expfile (vars: LR)"),
        ("LR", "-s LR: expected NAME=VALUE"),
        ("=3", "-s =3: expected NAME=VALUE"),
        (
            "LR=null",
            "-s LR=null: a var's value must be text, a number, a boolean, a list or a mapping",
        ),
        (
            "LR=!!python/name:os.system",
            "-s LR: the tag !!python/name:os.system is not allowed: "
            "plain values only (text, numbers, booleans, lists, mappings)",
        ),
    ],
)
def test_bad_overrides_are_usage_errors(override: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        loading.parse(MINIMAL, "expfile.yaml", [override])
    assert str(info.value) == message


OUT_OF_RANGE = (
    "is out of range: a number is at most ±1.8e308 (a 64-bit float); quote it to mean text"
)
MANY_DIGITS = "9" * 5000  # beyond the 4,300 digits Python turns into an int by default


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("1e309", "1e309"),
        ("-1e400", "-1e400"),
        (MANY_DIGITS, "99999999999999999999... (5,000 characters)"),
        ("0x1" + "0" * 256, "0x100000000000000000... (259 characters)"),
    ],
)
def test_a_number_no_float_holds_is_refused_in_the_expfile_and_in_overrides(
    experiment: Callable[[str], Path], run_cli: RunCli, written: str, shown: str
) -> None:
    """Vars are recorded as JSON, which tools read as 64-bit floats: beyond one a value
    would come back as infinity. Refused where it is written, never an internal error."""
    root = experiment(MINIMAL)
    (root / "expfile.yaml").write_text(MINIMAL.replace("LR: 0.01", f"LR: {written}"))
    code, out, err = run_cli("validate")
    assert (code, out, err) == (2, "", f"expfile.yaml:4:7: $.vars.LR: {shown} {OUT_OF_RANGE}\n")
    (root / "expfile.yaml").write_text(MINIMAL)
    code, out, err = run_cli("run", "-s", f"LR={written}")
    assert (code, out, err) == (2, "", f"expman: -s LR: {shown} {OUT_OF_RANGE}\n")
    assert not (root / "runs").exists()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("LR=.inf", "-s LR: .inf is not a finite number"),
        ("LR=[1, .nan]", "-s LR: .nan is not a finite number"),
        ("LR={a: 1e309}", f"-s LR: 1e309 {OUT_OF_RANGE}"),
    ],
)
def test_an_override_says_what_is_wrong_with_its_number(override: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        loading.parse(MINIMAL, "expfile.yaml", [override])
    assert str(info.value) == message


def test_override_is_validated_like_the_file() -> None:
    text = MINIMAL.replace("  LR: 0.01\n", "  LR: 0.01\nexport: [LR]\n")
    assert loading.parse(text, "e.yaml", ["LR=[1]"]).exported_env() == {"LR": "[1]"}


def test_find_walks_up_to_the_experiment(project: Path) -> None:
    sub = project / "a" / "b"
    sub.mkdir(parents=True)
    assert location.find(sub) == project / "expfile.yaml"


def test_find_outside_an_experiment(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"no expfile\.yaml in"):
        location.find(tmp_path)


def test_problems_are_sorted_by_position() -> None:
    with pytest.raises(ConfigError) as info:
        loading.parse("version: 2\nname: 3\nstages: {}\n", "e.yaml")
    lines = [p.line for p in info.value.problems]
    assert lines == sorted(lines) and len(lines) == 3


class _Cache:
    def __init__(self) -> None:
        self.digests: set[str] = set()

    def known(self, digest: str) -> bool:
        return digest in self.digests

    def add(self, digest: str) -> None:
        self.digests.add(digest)

    def document(self, digest: str) -> Any:
        return None

    def keep_document(self, digest: str, document: str) -> None:
        pass


def test_validation_cache_never_hides_a_problem(tmp_path: Path) -> None:
    cache = _Cache()
    loading.parse(MINIMAL, "e.yaml", cache=cache)
    assert len(cache.digests) == 1
    loading.parse(MINIMAL, "e.yaml", cache=cache)  # known: validation skipped
    with pytest.raises(ConfigError):  # other text: validated again
        loading.parse(MINIMAL.replace("version: 1", "version: 2"), "e.yaml", cache=cache)
    # Overrides replace only vars, with values of the types every var may have: the
    # expfile known valid stays valid (the rules the schema cannot say still run).
    loading.parse(MINIMAL, "e.yaml", ["LR=[{a: null}]"], cache=cache)
    assert len(cache.digests) == 1


def test_known_expfile_does_not_import_jsonschema(project: Path) -> None:
    import subprocess
    import sys

    probe = (
        "import sys; from pathlib import Path; from expman.expfile import loading;"
        " from expman.running import state;"
        "loading.load(Path('expfile.yaml'), cache=state.State(Path('.')));"
        "print('jsonschema' in sys.modules)"
    )
    first = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    second = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert (first.stdout, second.stdout) == ("True\n", "False\n"), first.stderr + second.stderr
    with_override = probe.replace("cache=", "overrides=['LR=0.5'], cache=")
    third = subprocess.run([sys.executable, "-c", with_override], capture_output=True, text=True)
    assert third.stdout == "False\n", "overrides change only vars: still known valid"


def test_an_override_of_a_known_expfile_is_still_checked(project: Path) -> None:
    cache = State(project)
    loading.load(project / "expfile.yaml", cache=cache)
    with pytest.raises(ConfigError, match="contains a NUL character"):
        loading.load(project / "expfile.yaml", overrides=['LR="a\\0b"'], cache=cache)


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("1e-3", 0.001),
        ("1E3", 1000.0),
        ("010", 10),
        ("-7", -7),
        ("0x1F", 31),
        ("0o17", 15),
        ("yes", "yes"),
        ("on", "on"),
        ("No", "No"),
        ("true", True),
        ("False", False),
        ("2024-01-02", "2024-01-02"),
        ("1_000", "1_000"),
        ("[1e-3, yes]", [0.001, "yes"]),
    ],
)
def test_values_are_typed_as_yaml_1_2_in_the_expfile_and_in_overrides(
    written: str, value: object
) -> None:
    """YAML 1.2's core schema, as editors' language servers read the file: no surprise
    between what the editor shows and what the run gets."""
    text = (
        f"version: 1\nname: t\nvars:\n  X: {written}\n  Y: 0\n"
        "stages:\n  run: {cmd: 'true'}\n  fetch: {cmd: 'true'}\n"
    )
    assert loading.parse(text, "expfile.yaml").vars["X"] == value
    assert loading.parse(text, "expfile.yaml", [f"Y={written}"]).vars["Y"] == value


def test_a_kept_document_gives_the_same_model_without_yaml(project: Path) -> None:
    (project / "go.sh").write_text("echo go\n")
    text = MINIMAL.replace('run: {cmd: "echo run"}', "run: {script: go.sh}")
    assert text != MINIMAL
    (project / "expfile.yaml").write_text(text)
    cache = State(project)
    parsed = loading.load(project / "expfile.yaml", cache=cache)
    assert (project / ".expman" / "expfile.json").exists()
    again = loading.load(project / "expfile.yaml", cache=cache)
    assert again == parsed
    assert (
        loading.load(project / "expfile.yaml", overrides=["LR=0.5"], cache=cache).vars["LR"] == 0.5
    )
    # What is around the expfile is checked every time, with the line that names it.
    (project / "go.sh").unlink()
    with pytest.raises(ConfigError, match=r"expfile.yaml:\d+:\d+: \$.stages.run.script"):
        loading.load(project / "expfile.yaml", cache=cache)


def test_a_damaged_or_foreign_kept_document_is_not_used(project: Path) -> None:
    cache = State(project)
    loading.load(project / "expfile.yaml", cache=cache)
    kept = project / ".expman" / "expfile.json"
    for damage in (b"{not json", b"[]", b'{"digest": "other", "document": {}}'):
        kept.write_bytes(damage)
        assert loading.load(project / "expfile.yaml", cache=cache).name == "demo"
    # A kept document for this very text is trusted only while the text is known valid.
    document = json.loads(kept.read_text())
    document["document"]["name"] = "forged"
    kept.write_text(json.dumps(document))
    (project / ".expman" / "validated").unlink()
    assert loading.load(project / "expfile.yaml", cache=cache).name == "demo"

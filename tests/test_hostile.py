"""Hostile input: arbitrary bytes, YAML and queries never crash expman; archived files
cannot be changed through run folders; readers never see a torn record."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expman.errors import ConfigError, QueryError, UsageError
from expman.expfile import loading
from expman.store.archive import Archive
from expman.store.query import Query
from tests.conftest import MINIMAL, RunCli
from tests.records import fake_record

# Derandomized in CI for a reproducible gate; run with HYPOTHESIS_PROFILE=explore locally.
settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "explore",
    max_examples=3000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=25,
)
EXPFILE_KEYS = [
    "version",
    "name",
    "vars",
    "export",
    "env",
    "stages",
    "metrics",
    "archive",
    "tags",
    "hypothesis",
    "pre-run",
    "run",
    "fetch",
    "cmd",
    "script",
    "deps",
]


def _load(text: str | bytes, tmp: Path) -> None:
    """Load an expfile: a Config, or a ConfigError/UsageError with a message. Nothing else."""
    path = tmp / "expfile.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    try:
        loading.load(path, "expfile.yaml")
    except ConfigError as e:
        assert e.problems and all(str(p).startswith("expfile.yaml:") for p in e.problems)
    except UsageError as e:
        assert str(e)


def test_a_nul_in_the_archive_setting_is_a_located_problem(tmp_path: Path) -> None:
    """Found by hypothesis: a NUL there crashed the archive checks (`Path.resolve`)."""
    path = tmp_path / "expfile.yaml"
    path.write_text('version: 1\nname: x\narchive: "\\0"\n')
    with pytest.raises(ConfigError) as raised:
        loading.load(path, "expfile.yaml")
    assert "expfile.yaml:3:1: $.archive: contains a NUL character" in str(raised.value)


@given(st.binary(max_size=300))
def test_arbitrary_bytes(tmp_path: Path, data: bytes) -> None:
    _load(data, tmp_path)


@pytest.mark.slow
@given(st.text(max_size=300))
def test_arbitrary_text(tmp_path: Path, text: str) -> None:
    _load(text, tmp_path)


@pytest.mark.slow
@given(JSONISH)
def test_arbitrary_yaml_documents(tmp_path: Path, data: Any) -> None:
    _load(yaml.safe_dump(data), tmp_path)


@pytest.mark.slow
@given(st.dictionaries(st.sampled_from(EXPFILE_KEYS), JSONISH, max_size=6))
def test_arbitrary_expfile_shaped_documents(tmp_path: Path, data: dict[str, Any]) -> None:
    _load(yaml.safe_dump({"version": 1, "name": "x", **data}), tmp_path)


@given(st.text(max_size=60))
def test_arbitrary_queries(expression: str) -> None:
    records = [{"id": "0001", "status": "succeeded", "metrics": {"acc": 0.5}, "tags": ["a"]}]
    try:
        Query(expression).search(records)
    except QueryError as e:
        assert str(e)


@given(st.text(alphabet="[]?@.&|!=<>`'(){}*:,0123456789abcmetrics_ ", max_size=40))
def test_arbitrary_query_syntax(expression: str) -> None:
    try:
        Query(expression).search([{"a": 1, "metrics": {"m": [1, 2]}}, {"b": "x"}])
    except QueryError as e:
        assert str(e)


def test_query_command_never_crashes(project: Path, run_cli: RunCli) -> None:
    (project / "runs" / "0001").mkdir(parents=True)
    (project / "runs" / "0001" / "run.json").write_text('{"id": "0001", "status": "failed"}')
    for expression in [
        "",
        "[",
        "`",
        "'",
        "@@",
        "a.b.c[",
        "to_epoch(`1`)",
        "[?@ > `{}`]",
        "length(`null`)",
        "\x00",
        "matches(id, `1`)",
        "sort_by(@, &id)[0]",
    ]:
        code, _, err = run_cli("query", expression)
        assert code in (0, 2) and "Traceback" not in err, (expression, err)


def test_yaml_alias_bomb_is_refused_quickly_in_bounded_memory(tmp_path: Path) -> None:
    layers = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for name, prev in zip("bcdefghijk", "abcdefghij", strict=True):
        layers.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    (tmp_path / "expfile.yaml").write_text("\n".join(layers) + "\n")
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(ConfigError, match="expands to more than 100,000 nodes"):
        loading.load(tmp_path / "expfile.yaml")
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 1.0 and peak < 20 << 20, (elapsed, peak)


def test_override_values_are_never_code(project: Path) -> None:
    for value in [
        "!!python/object/apply:os.system ['touch pwned']",
        "$(touch pwned)",
        "`touch pwned`",
        "; touch pwned",
    ]:
        with contextlib.suppress(UsageError):
            loading.parse(MINIMAL, "expfile.yaml", [f"LR={value}"])
    assert not (project / "pwned").exists()


def test_archived_files_cannot_be_changed_through_run_folders(
    project: Path, run_cli: RunCli
) -> None:
    """As an ordinary user (expman's tests may run as root, which ignores file modes)."""
    (project / "expfile.yaml").write_text(
        MINIMAL.replace(
            'fetch: {cmd: "true"}', 'fetch: {cmd: "echo result > $EXPMAN_OUTPUTS/r.txt"}'
        )
    )
    assert run_cli("run")[0] == 0 and run_cli("end", "-m", "x")[0] == 0
    archived = project / "runs" / "0001" / "outputs" / "r.txt"
    obj = next(
        p
        for p in (project / "runs" / ".objects").rglob("*")
        if p.is_file() and p.read_bytes() == b"result\n"
    )
    attempt = [
        sys.executable,
        "-c",
        "import sys\ntry:\n    open(sys.argv[1], 'a').write('changed')\n"
        "except PermissionError:\n    sys.exit(13)\n",
    ]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.fail("setpriv (util-linux) is needed to test as an ordinary user")
        shared = Path(tempfile.mkdtemp())
        try:
            shared.chmod(0o755)
            copy = shared / "runs"
            shutil.copytree(project / "runs", copy, symlinks=True)
            for path in [copy, *copy.rglob("*")]:  # the archive belongs to the user
                os.chown(path, 65534, 65534, follow_symlinks=False)
            target = copy / "0001" / "outputs" / "r.txt"
            assert target.stat().st_mode & 0o777 == 0o444  # copytree kept the mode
            as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
            result = subprocess.run([*as_nobody, *attempt, str(target)], capture_output=True)
        finally:
            shutil.rmtree(shared)
    else:
        result = subprocess.run([*attempt, str(archived)], capture_output=True)
    assert result.returncode == 13, result.stderr  # even its owner cannot write it
    assert archived.read_text() == "result\n" and obj.read_text() == "result\n"


def _writer(root: str, seconds: float) -> None:
    archive = Archive(Path(root))
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        n += 1
        archive.write(fake_record(id="0001", n=n, padding="x" * (n % 5000)))


@pytest.mark.slow
def test_readers_never_see_a_torn_record(tmp_path: Path) -> None:
    archive = Archive(tmp_path)
    archive.create(fake_record(n=0))
    writer = multiprocessing.get_context("spawn").Process(target=_writer, args=(str(tmp_path), 2.0))
    writer.start()
    reads = 0
    try:
        while writer.is_alive():
            record = json.loads((tmp_path / "0001" / "run.json").read_bytes())
            assert record["id"] == "0001"
            reads += 1
    finally:
        writer.join()
    assert writer.exitcode == 0 and reads > 100


@given(st.text(max_size=60))
def test_arbitrary_sweep_specs(text: str) -> None:
    """A sweep spec is a spec or a UsageError: never a crash, never an endless range."""
    from expman.sweeps.plan import parse_spec

    try:
        spec = parse_spec("X", text)
    except UsageError:
        return
    assert spec.random or 1 <= len(spec.values) <= 1_000_000


@given(st.text(max_size=200), st.sampled_from(["p.csv", "p.jsonl"]))
def test_arbitrary_points_files(text: str, name: str) -> None:
    from expman.sweeps.inputs import read_points

    try:
        rows = read_points(text, name, {"LR": 0.01, "SEED": 0})
    except UsageError:
        return
    assert rows and all(set(row) <= {"LR", "SEED"} for row in rows)


@given(st.lists(st.text(max_size=8), max_size=5))
def test_arbitrary_tag_words(words: list[str]) -> None:
    from expman.store.annotation import parse_tag_changes

    try:
        added, removed = parse_tag_changes(words)
    except ValueError:
        return
    assert len(added) + len(removed) == len(words)

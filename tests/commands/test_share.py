"""`expman push` and `expman pull`: runs matched by uid, objects before records, idempotent,
interrupted transfers finished by running again, archives that read anywhere."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunCli, git, records

BIN = Path(sys.executable).parent

EXPFILE = """\
version: 1
name: share
vars:
  SEED: 0
  SIZE: 1000
stages:
  run: {cmd: "true"}
  fetch:
    cmd: >-
      echo $SEED > "$EXPMAN_OUTPUTS/seed.txt";
      head -c $SIZE /dev/zero > "$EXPMAN_OUTPUTS/zeros.bin";
      ln -s seed.txt "$EXPMAN_OUTPUTS/link";
      echo "{\\"acc\\": 0.$SEED}" > "$EXPMAN_OUTPUTS/metrics.json"
metrics: outputs/metrics.json
"""


def _machine(tmp_path: Path, name: str) -> Path:
    root = tmp_path / name
    root.mkdir()
    (root / "expfile.yaml").write_text(EXPFILE)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "start")
    return root


def _expman(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "expman"), *args], cwd=root, capture_output=True, text=True, check=False
    )


def _runs(root: Path, seeds: range, size: int = 1000) -> None:
    for seed in seeds:
        sizes = ("-s", f"SIZE={size + seed}")  # one object per run
        assert _expman(root, "run", "-s", f"SEED={seed}", *sizes).returncode == 0
        assert _expman(root, "end", "-m", f"seed {seed}").returncode == 0


def _answers(root: Path) -> Any:
    query = "sort_by([], &uid)[].{uid: uid, seed: vars.SEED, acc: metrics.acc, notes: notes}"
    return json.loads(_expman(root, "query", query).stdout)


@pytest.mark.slow
def test_two_machines_end_with_the_same_runs_on_both(tmp_path: Path) -> None:
    lab, laptop = _machine(tmp_path, "lab"), _machine(tmp_path, "laptop")
    _runs(lab, range(1, 6))
    _runs(laptop, range(6, 11))
    shared = tmp_path / "shared"
    assert _expman(lab, "push", str(shared)).returncode == 0
    assert _expman(laptop, "note", "2", "-m", "noted on the laptop").returncode == 0
    result = _expman(laptop, "pull", str(shared))
    assert result.stdout.startswith(f"pulled from {shared}: 5 run(s)")
    assert _expman(laptop, "push", str(shared)).returncode == 0
    assert _expman(lab, "pull", str(shared)).returncode == 0
    assert len(records(lab)) == len(records(laptop)) == len(records(shared, ".")) == 10
    assert _answers(lab) == _answers(laptop)
    arrived = records(lab)[-1]
    assert arrived["id"] == "0010" and arrived["origin"]["id"] in {f"{n:04d}" for n in range(1, 6)}
    assert (
        arrived["origin"]["archive"]
        == json.loads((laptop / "runs/.archive.json").read_text())["uid"]
    )
    link = lab / "runs" / "0010" / "outputs" / "link"
    assert link.is_symlink() and link.read_text() == arrived["vars"]["SEED"].__str__() + "\n"
    again = _expman(lab, "pull", str(shared))
    assert again.stdout.startswith(f"pulled from {shared}: 0 run(s), 0.0 MB")
    assert _expman(lab, "fsck").returncode == 0


@pytest.mark.slow
def test_a_note_made_on_either_side_reaches_the_other(tmp_path: Path) -> None:
    lab = _machine(tmp_path, "lab")
    _runs(lab, range(1, 2))
    shared = tmp_path / "shared"
    _expman(lab, "push", str(shared))
    assert (
        _expman(shared, "note", "1", "-m", "from the shared copy", "--archive", ".").returncode == 0
    )
    _expman(lab, "note", "1", "-m", "from the lab")
    _expman(lab, "pull", str(shared))
    _expman(lab, "push", str(shared))
    for root, archive in ((lab, "runs"), (shared, ".")):
        notes = sorted(n["text"] for n in records(root, archive)[0]["notes"])
        assert notes == ["from the lab", "from the shared copy"], root


@pytest.mark.slow
def test_records_hold_no_absolute_paths_and_the_archive_reads_anywhere(
    tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = _machine(tmp_path, "lab")
    _runs(lab, range(1, 3))
    _expman(lab, "note", "1", "-m", "a note")

    def strings(value: Any) -> list[str]:
        if isinstance(value, str):
            return [value]
        if isinstance(value, dict):
            return [s for v in value.values() for s in strings(v)]
        if isinstance(value, list):
            return [s for v in value for s in strings(v)]
        return []

    for record in records(lab):
        found = [s for s in strings(record) if s.startswith("/") or str(tmp_path) in s]
        assert found == [], found
    moved = tmp_path / "elsewhere" / "runs"
    moved.parent.mkdir()
    shutil.move(str(lab / "runs"), moved)
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli("show", "2", "--archive", str(moved))
    assert code == 0 and "succeeded" in out
    assert json.loads(run_cli("query", "[].vars.SEED", "--archive", str(moved))[1]) == [1, 2]


@pytest.mark.slow
def test_an_interrupted_pull_is_finished_by_the_next_and_copies_nothing_twice(
    tmp_path: Path,
) -> None:
    lab, laptop = _machine(tmp_path, "lab"), _machine(tmp_path, "laptop")
    _runs(lab, range(1, 7), size=60_000_000)
    source = lab / "runs"
    for _ in range(2):
        # Killed as soon as one more run has arrived: in the middle of the next one's
        # objects (fixed delays let a fast disk finish the whole pull first).
        before = len(records(laptop))
        pull = subprocess.Popen(
            [str(BIN / "expman"), "pull", str(source)], cwd=laptop, stdout=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 60
        while len(records(laptop)) <= before and pull.poll() is None:
            assert time.monotonic() < deadline, "no run arrived"
            time.sleep(0.005)
        pull.send_signal(signal.SIGKILL)
        pull.wait()
        for record in records(laptop):  # every run that arrived is whole
            folder = laptop / "runs" / record["id"] / "outputs"
            assert (folder / "zeros.bin").stat().st_size == 60_000_000 + record["vars"]["SEED"]
    arrived = len(records(laptop))
    assert arrived < 6, "the kills came too late to interrupt anything"
    store = laptop / "runs" / ".objects"
    present = {p.name for p in store.glob("??/*")}
    result = _expman(laptop, "pull", str(source))
    assert result.returncode == 0
    assert result.stdout.startswith(f"pulled from {source}: {6 - arrived} run(s)")
    new = [p for p in store.glob("??/*") if p.name not in present]
    copied = sum(p.stat().st_size for p in new)
    assert f"{copied / 1e6:.1f} MB of new content" in result.stdout, "nothing copied twice"
    assert _answers(lab) == _answers(laptop)
    assert not list((laptop / "runs").glob("**/.new-*")), "no staging folder is left"
    assert _expman(laptop, "fsck").returncode == 0


def test_a_damaged_source_object_is_refused(tmp_path: Path) -> None:
    lab, laptop = _machine(tmp_path, "lab"), _machine(tmp_path, "laptop")
    _runs(lab, range(1, 2))
    seed = lab / "runs" / "0001" / "outputs" / "seed.txt"
    seed.chmod(0o644)
    seed.write_text("tampered\n")
    result = _expman(laptop, "pull", str(lab / "runs"))
    assert result.returncode == 2
    assert "outputs/seed.txt: its content does not match its record" in result.stderr
    assert records(laptop) == []


Experiment = Callable[..., Path]

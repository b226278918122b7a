"""Kill harness: `expman run` and `expman end` killed at random moments, then checked.

Each trial kills one command with SIGKILL, SIGTERM or SIGINT after a random delay (during
a stage, the snapshot, the archiving, or after it finished), then checks what SPEC §6
promises: every record parses and validates; the killed run is never left `running`;
fetched outputs are whole in `outputs/` or in the archive; pre-run steps that finished
are still known to be up to date; no stage process is left running; every store object
still matches its name (the fetch stage leaves a writer behind); no partial object is
left once `end` has run again; and the next `expman end` and `expman run` work. Some
trials first remove `.expman/` (it is disposable), and some kill an `end` facing an
`outputs/` that links elsewhere (nothing there may be deleted). EXPMAN_KILL_TRIALS sets
the number (default 100), EXPMAN_KILL_SEED the random seed (printed, to replay a failure).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from expman.processes import stray_processes
from expman.store.record import SCHEMA_PATH
from tests.conftest import git

BIN = Path(sys.executable).parent
TRIALS = int(os.environ.get("EXPMAN_KILL_TRIALS", "100"))
TIME_LIMIT = 420.0  # seconds for all trials: kills must not make anything hang

EXPFILE = """\
version: 1
name: kills
vars: {N: 1}
stages:
  pre-run:
    - name: prep
      cmd: sleep 0.05; mkdir -p data; cat prep.txt > data/ready.txt
      deps: [prep.txt]
      targets: [data/ready.txt]
      export: []
  run:
    cmd: (sleep 0.4; echo late) & for i in 1 2 3 4 5; do echo "line $i"; sleep 0.03; done; wait
  post-run:
    cmd: sleep 0.03
  fetch:
    cmd: >-
      for i in $(seq 24); do
      head -c 1000000 /dev/urandom > "$EXPMAN_OUTPUTS/f$i.bin"; done;
      ( exec 3>>"$EXPMAN_OUTPUTS/f1.bin"; sleep 0.3; echo late >&3 ) >/dev/null 2>&1 &
"""
SIGNALS = (signal.SIGKILL, signal.SIGTERM, signal.SIGINT)


# The harness's expman processes run without coverage measurement: kills must land on
# expman at its real speed, not on a process slowed down (and kept alive) by measuring.
PLAIN = {k: v for k, v in os.environ.items() if not k.startswith(("COVERAGE_", "COV_CORE_"))}


def _expman(root: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "expman"), *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=PLAIN,
    )


def _kill(root: Path, args: list[str], delay: float, sig: int) -> int:
    process = subprocess.Popen(
        [str(BIN / "expman"), *args],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=PLAIN,
    )
    time.sleep(delay)
    process.send_signal(sig)
    return process.wait(timeout=120)


def _digests(folder: Path) -> dict[str, str]:
    return (
        {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.bin"))}
        if folder.is_dir()
        else {}
    )


class Harness:
    def __init__(self, root: Path, seed: int) -> None:
        self.root = root
        self.chance = random.Random(seed)
        self.schema = json.loads(SCHEMA_PATH.read_text())
        self.checked: dict[Path, int] = {}
        self.seen: Counter[str] = Counter()
        self.hashed: set[Path] = set()

    def records(self) -> list[dict[str, Any]]:
        found = []
        for path in sorted((self.root / "runs").glob("[0-9]*/run.json")):
            record = json.loads(path.read_text())  # must parse, whenever it was killed
            mtime = path.stat().st_mtime_ns
            if self.checked.get(path) != mtime:
                jsonschema.validate(record, self.schema)
                self.checked[path] = mtime
            found.append(record)
        return found

    def open_run(self) -> dict[str, Any] | None:
        pointer = self.root / ".expman" / "current.json"
        markers = sorted((self.root / "runs" / ".open").glob("*.json"))
        if pointer.exists():
            run_id = json.loads(pointer.read_text())["id"]
        elif markers:  # `.expman/` was removed: the archive still knows
            run_id = json.loads(markers[-1].read_text())["id"]
        else:
            return None
        run: dict[str, Any] = json.loads((self.root / "runs" / run_id / "run.json").read_text())
        return run

    def kill_run(self, sig: int) -> None:
        if self.chance.random() < 0.4:  # a changed dependency: the pre-run step runs
            (self.root / "prep.txt").write_text(f"{self.chance.random()}\n")
        _kill(self.root, ["run"], self.chance.uniform(0, 0.9), sig)
        assert _expman(self.root, "status").returncode == 0  # repairs a dead run
        run = self.open_run()
        if run is None:  # killed before it opened a run: nothing may say `running`
            assert all(r["status"] != "running" for r in self.records())
            self.seen["killed before a run opened"] += 1
            return
        self.check_not_running(run)
        prep = [s for s in run["stages"] if s["name"] == "pre-run:prep"]
        if prep and prep[0]["status"] in ("ran", "skipped"):
            status = _expman(self.root, "status").stdout
            assert "pre-run:prep  up to date" in status, (run["stages"], status)

    def kill_end(self, sig: int) -> None:
        run = self.open_run()
        if run is None or run["status"] != "succeeded" or run["ended"] is not None:
            result = _expman(self.root, "run")
            assert result.returncode == 0, result.stderr
            run = self.open_run()
            assert run is not None
        fetched = _digests(self.root / "outputs")
        assert len(fetched) == 24
        # `end` takes ~0.15 s, most of it start-up: aim at the archiving that follows it
        _kill(self.root, ["end", "-m", "killed"], self.chance.uniform(0.02, 0.2), sig)
        records = {r["id"]: r for r in self.records()}
        after = records[run["id"]]
        in_outputs = _digests(self.root / "outputs")
        in_archive = _digests(self.root / "runs" / run["id"] / "outputs")
        whole_outputs = all(in_outputs.get(name) == digest for name, digest in fetched.items())
        whole_archive = after["ended"] is not None and in_archive == fetched
        assert whole_outputs or whole_archive, (len(in_outputs), len(in_archive), after["ended"])
        self.seen["end finished" if after["ended"] else "end cut short"] += 1

    def kill_end_of_linked_outputs(self, sig: int) -> None:
        """`outputs/` links to a folder elsewhere: `end` refuses, killed or not, and
        deletes nothing there."""
        if self.open_run() is None:
            assert _expman(self.root, "run").returncode == 0
        outputs, elsewhere = self.root / "outputs", self.root.parent / "elsewhere"
        outputs.rename(elsewhere)
        outputs.symlink_to(elsewhere)
        before = _digests(elsewhere)
        try:
            _kill(self.root, ["end", "-m", "linked"], self.chance.uniform(0.02, 0.2), sig)
            assert _digests(elsewhere) == before, "end deleted or changed what it did not own"
            run = self.open_run()
            assert run is not None and run["ended"] is None
        finally:
            outputs.unlink()
            elsewhere.rename(outputs)
        self.seen["end of linked outputs refused"] += 1

    def objects_match_their_names(self) -> None:
        for path in (self.root / "runs" / ".objects").glob("??/*"):
            if path not in self.hashed:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                assert digest == path.parent.name + path.name, f"{path} was changed"
                self.hashed.add(path)

    def check_not_running(self, run: dict[str, Any]) -> None:
        assert run["status"] != "running", run["attempts"][-1]
        if run["status"] == "succeeded":
            assert all(s["status"] in ("ran", "skipped") for s in run["stages"])
        assert stray_processes(f"EXPMAN_RUN_UID={run['uid']}") == [], "a stage outlived expman"
        self.seen[f"run {run['status']}"] += 1

    def next_commands_work(self) -> None:
        ended = _expman(self.root, "end", "-m", "after a kill")
        assert ended.returncode in (0, 2), ended.stderr  # 2: no open run (end had finished)
        if ended.returncode == 2:
            assert "no open run" in ended.stderr
        else:
            partial = list((self.root / "runs" / ".objects").glob(".incoming-*"))
            assert partial == [], "a killed end left partial objects that end did not remove"


@pytest.mark.slow
def test_kills_at_random_moments(tmp_path: Path) -> None:
    seed = int(os.environ.get("EXPMAN_KILL_SEED", str(int(time.time()))))
    print(f"kill harness: {TRIALS} trials, EXPMAN_KILL_SEED={seed}")
    root = tmp_path / "kills"
    root.mkdir()
    (root / "expfile.yaml").write_text(EXPFILE)
    (root / "prep.txt").write_text("0\n")
    (root / ".gitignore").write_text("/.expman/\n/outputs/\n/runs/\n/data/\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "kills")
    harness = Harness(root, seed)
    started = time.monotonic()
    for trial in range(TRIALS):
        sig = harness.chance.choice(SIGNALS)
        mode = harness.chance.choice(("run", "run", "end", "run", "run", "end", "linked"))
        harness.seen[f"{mode} {signal.Signals(sig).name}"] += 1
        if harness.chance.random() < 0.1:
            subprocess.run(["rm", "-rf", str(root / ".expman")], check=True)
            harness.seen[".expman removed"] += 1
        kill = {
            "run": harness.kill_run,
            "end": harness.kill_end,
            "linked": harness.kill_end_of_linked_outputs,
        }[mode]
        try:
            kill(sig)
            harness.records()
            harness.objects_match_their_names()
            harness.next_commands_work()
        except AssertionError as e:
            raise AssertionError(
                f"trial {trial} ({mode}, {signal.Signals(sig).name}, EXPMAN_KILL_SEED={seed}): {e}"
            ) from e
        assert time.monotonic() - started < TIME_LIMIT, f"only {trial + 1} trials in time"
    final = _expman(root, "run")
    assert final.returncode == 0, final.stderr
    assert _expman(root, "end", "-m", "done").returncode == 0
    assert all(r["status"] != "running" for r in harness.records())
    print(f"{TRIALS} trials in {time.monotonic() - started:.0f} s: {dict(harness.seen)}")

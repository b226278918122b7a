"""Archives that arrive from elsewhere, for tests: real runs made once, then copied and damaged.

`Template` holds two experiments made with expman itself: `lab`, whose archive plays the
archive from elsewhere (copied as `hostile/`, then damaged by a test), and `home`, which
pulled from `lab` once, so that the next pull and push both copy runs and merge notes.
`Canary` watches everything around the two archives: no command may change it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from expman.cli.main import main
from tests.conftest import git

EXPFILE = """\
version: 1
name: arriving
vars:
  SEED: 0
stages:
  run: {script: train.sh}
  fetch:
    cmd: >-
      mkdir -p "$EXPMAN_OUTPUTS/sub";
      echo "seed $SEED" > "$EXPMAN_OUTPUTS/seed.txt";
      echo "deep $SEED" > "$EXPMAN_OUTPUTS/sub/deep.txt";
      ln -s seed.txt "$EXPMAN_OUTPUTS/link";
      echo "{\\"acc\\": 0.$SEED}" > "$EXPMAN_OUTPUTS/metrics.json"
metrics: outputs/metrics.json
"""
SCRIPT = """\
#!/bin/bash
echo training with seed $SEED
for step in 1 2 3; do
  echo "{\\"step\\": $step, \\"loss\\": 0.$SEED$step}" >> "$EXPMAN_METRICS"
done
"""


def expman(*args: str) -> tuple[int, str, str]:
    """Run expman in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    before = Path.cwd()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        os.chdir(before)  # commands chdir to their experiment
    return code, out.getvalue(), err.getvalue()


def _experiment(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "expfile.yaml").write_text(EXPFILE)
    (root / "train.sh").write_text(SCRIPT)
    (root / "train.sh").chmod(0o755)
    (root / ".gitignore").write_text("/.expman/\n/outputs/\n/runs/\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "start")
    return root


def run_and_end(root: Path, seed: int) -> None:
    """One ended run of the experiment at `root`."""
    for args in (("run", "-s", f"SEED={seed}"), ("end", "-m", f"seed {seed}")):
        code, _, err = expman("-C", str(root), *args)
        assert code == 0, err


@dataclass(frozen=True)
class Template:
    """A folder holding `lab/` and `home/` (see the module's docstring)."""

    root: Path

    @classmethod
    def make(cls, root: Path) -> Template:
        """lab: runs 1-2 noted; home: its own run, lab's pulled; then lab a third run and
        a new note, home a note on a pulled run: the next pull and push have work."""
        lab, home = _experiment(root / "lab"), _experiment(root / "home")
        run_and_end(lab, 1)
        run_and_end(lab, 2)
        assert expman("-C", str(lab), "note", "1", "-m", "from the lab")[0] == 0
        run_and_end(home, 3)
        assert expman("-C", str(home), "pull", str(lab / "runs"))[0] == 0
        run_and_end(lab, 4)
        assert expman("-C", str(lab), "note", "2", "-m", "later, from the lab")[0] == 0
        assert expman("-C", str(home), "note", "2", "-m", "from home")[0] == 0
        return cls(root)

    def copy(self, to: Path) -> tuple[Path, Path]:
        """A fresh copy under `to`: (home's archive, the archive from elsewhere)."""
        shutil.copytree(self.root / "home", to / "home", symlinks=True)
        shutil.copytree(self.root / "lab" / "runs", to / "hostile", symlinks=True)
        return to / "home" / "runs", to / "hostile"


@dataclass(frozen=True)
class Scene:
    """A fresh copy of the template: home's archive, the archive from elsewhere, and a
    canary around them."""

    home: Path
    hostile: Path
    canary: Canary

    @classmethod
    def of(cls, template: Template, to: Path) -> Scene:
        """The scene in the empty folder `to`."""
        home, hostile = template.copy(to)
        return cls(home, hostile, Canary(to, home, hostile))

    def record(self, run_id: str) -> dict[str, Any]:
        """A record of the archive from elsewhere."""
        data: dict[str, Any] = json.loads((self.hostile / run_id / "run.json").read_text())
        return data

    def rewrite(self, run_id: str, change: Callable[[dict[str, Any]], object]) -> None:
        """Change a record of the archive from elsewhere, as a sender can."""
        data = self.record(run_id)
        change(data)
        path = self.hostile / run_id / "run.json"
        path.unlink()
        path.write_text(json.dumps(data))


class Canary:
    """Every path under a folder but the archives, its kind and content: what no command
    given those archives may change."""

    def __init__(self, root: Path, *allowed: Path) -> None:
        self.root = root
        self.allowed = {p.resolve() for p in allowed}
        self.private = root / "canary"
        (self.private / ".ssh").mkdir(parents=True)
        (self.private / ".ssh" / "config").write_text("Host lab\n")
        (self.private / "secret.json").write_text('{"note": "a private secret"}\n')
        self.before = self.snapshot()

    def snapshot(self) -> dict[str, tuple[str, bytes]]:
        """path -> (kind, content or link target) of everything watched."""
        found: dict[str, tuple[str, bytes]] = {}
        for folder, dirs, names in os.walk(self.root):
            here = Path(folder)
            dirs[:] = [d for d in dirs if (here / d).resolve() not in self.allowed]
            for name in dirs + names:
                path = here / name
                if path.resolve() in self.allowed and not path.is_symlink():
                    continue
                if path.is_symlink():
                    found[str(path)] = ("link", str(path.readlink()).encode())
                elif path.is_dir():
                    found[str(path)] = ("folder", b"")
                else:
                    found[str(path)] = ("file", path.read_bytes())
        return found

    def changes(self) -> list[str]:
        """The watched paths that differ from when the canary was made."""
        after = self.snapshot()
        changed = self.before.keys() | after.keys()
        return sorted(p for p in changed if self.before.get(p) != after.get(p))

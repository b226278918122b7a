"""The example archive of docs/records.md: six real runs, with fixed dates."""

from __future__ import annotations

import json
from pathlib import Path

from expman.cli.main import main
from tests.conftest import git

EXPFILE = """\
version: 1
name: lr-study
hypothesis: a larger learning rate converges faster
tags: [sgd]
vars:
  LR: 0.01
  MOMENTUM: 0.0
  FAIL: false
stages:
  run:
    cmd: >-
      test "$FAIL" = false && python3 -c "import json, os; lr = float(os.environ['LR']);
      f = open(os.environ['EXPMAN_METRICS'], 'a');
      [f.write(json.dumps({'step': s, 'loss': round(1 - lr * s + (0.3 if lr >= 0.1 and s == 9
      else 0), 3)}) + chr(10)) for s in range(10)]"
  fetch:
    cmd: >-
      python3 -c "import json, os; lr = float(os.environ['LR']);
      m = float(os.environ['MOMENTUM']);
      json.dump({'acc': round(0.8 + lr + m / 10, 3), 'loss': round(1 - lr, 3)},
      open(os.environ['EXPMAN_OUTPUTS'] + '/metrics.json', 'w'))"
metrics: outputs/metrics.json
"""

# (hypothesis, tags?, overrides, observations, dirty?)
RUNS = [
    ("baseline: the default learning rate", ["-s", "LR=0.01"], "acc 0.81, slow"),
    ("a larger learning rate converges faster", ["-s", "LR=0.05"], "faster, acc 0.85"),
    ("Momentum helps at the larger rate", ["-s", "LR=0.05", "-s", "MOMENTUM=0.9"], "best so far"),
    ("LR 0.1 is better still", ["-s", "LR=0.1"], "acc 0.9, no momentum"),
    ("a broken run", ["-s", "FAIL=true"], "the run stage failed on purpose"),
    ("repeat LR 0.05 from a dirty tree", ["-s", "LR=0.05"], "same as run 2"),
]


def build(root: Path) -> Path:
    """Make the archive in `root` (which becomes the working folder's experiment)."""
    root.mkdir(parents=True)
    (root / "expfile.yaml").write_text(EXPFILE)
    (root / ".gitignore").write_text("/.expman/\n/outputs/\n/runs/\n")
    (root / "requirements.txt").write_text("numpy==1.26.4\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "lr-study")
    for number, (hypothesis, overrides, observations) in enumerate(RUNS, start=1):
        if number == 4:  # the environment moves on: runs 4 to 6 ran with numpy 2
            (root / "requirements.txt").write_text("numpy==2.0.0\n")
            git(root, "commit", "-qam", "numpy 2")
        if number == 6:
            (root / "notes.txt").write_text("an untracked note\n")
        main(["-C", str(root), "start", "-m", hypothesis])
        main(["-C", str(root), "run", *overrides])
        main(["-C", str(root), "end", "-m", observations])
    main(["-C", str(root), "tag", "3", "+best"])  # after the fact
    main(["-C", str(root), "note", "5", "-m", "the FAIL var was left on by mistake"])
    for number in range(1, len(RUNS) + 1):  # fixed dates, one run a day from Nov 1st
        path = root / "runs" / f"{number:04d}" / "run.json"
        record = json.loads(path.read_text())
        start = 1793491200 + (number - 1) * 86400  # 2026-11-01T00:00:00Z
        duration = 60.0 * number
        record.update(started_epoch=start, ended_epoch=start + duration, duration=duration)
        record.update(started=_iso(start), ended=_iso(start + duration))
        path.chmod(0o644)
        path.write_text(json.dumps(record, indent=2) + "\n")
    return root


def _iso(epoch: float) -> str:
    from expman.store.record import iso

    return iso(epoch)

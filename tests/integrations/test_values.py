"""What every integration shares: no framework imported until used, values through
`expman.log`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from expman.integrations import log_values
from tests.integrations.conftest import need

FRAMEWORKS = ("keras", "lightning", "numpy", "sklearn", "tensorflow", "torch", "transformers")


def test_importing_expman_and_its_integrations_imports_no_framework() -> None:
    probe = (
        "import sys\n"
        "import expman, expman.integrations, expman.integrations.sklearn\n"
        f"print([name for name in {FRAMEWORKS!r} if name in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[]\n"


def test_a_step_key_serves_as_the_step_only_when_none_was_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "series.jsonl"
    monkeypatch.setenv("EXPMAN_METRICS", str(target))
    log_values(None, {"step": 3, "loss": 0.5})
    log_values(7, {"step": 3, "loss": 0.25})  # the framework's step wins; no clash
    log_values(None, {"loss": 0.125, 1: 2.0})  # keys of any kind become text
    points = [json.loads(line) for line in target.read_text().splitlines()]
    assert points == [
        {"step": 3, "loss": 0.5},
        {"step": 7, "loss": 0.25},
        {"loss": 0.125, "1": 2.0},
    ]


@pytest.mark.slow
def test_a_tensor_that_is_no_scalar_is_logged_as_text_never_raised(tmp_path: Path) -> None:
    need("torch")
    target = tmp_path / "series.jsonl"
    script = (
        "import torch\nfrom expman.integrations import log_values\n"
        "log_values(1, {'loss': torch.tensor(0.5), 'weights': torch.tensor([1.0, 2.0])})\n"
        "print('on')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "EXPMAN_METRICS": str(target)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and done.stdout == "on\n", done.stderr
    point = json.loads(target.read_text())
    assert point["loss"] == 0.5 and point["step"] == 1
    assert point["weights"].startswith("tensor([1., 2.])")  # text: no metric, no exception

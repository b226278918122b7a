"""`expman.integrations.huggingface`: a real `Trainer` trains a model made in the test (no
download from any hub); the callback must have logged what the trainer's own log history
holds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import RunCli
from tests.integrations.conftest import need
from tests.integrations.training import reporting, run_in_expman, run_outside

OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}  # nothing is fetched

TRAIN = """\
import json, os, sys

import torch
from transformers import Trainer, TrainingArguments

from expman.integrations.huggingface import ExpmanCallback


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)

    def forward(self, x, labels):
        prediction = self.layer(x).squeeze(-1)
        return {"loss": torch.nn.functional.mse_loss(prediction, labels), "logits": prediction}


torch.manual_seed(0)
x = torch.randn(64, 4)
data = [{"x": row, "labels": row.sum()} for row in x]
arguments = TrainingArguments(
    output_dir=os.path.join(os.path.dirname(os.path.abspath(__file__)), "trainer"),
    num_train_epochs=2,
    per_device_train_batch_size=16,
    learning_rate=0.05,
    logging_steps=1,
    eval_strategy="epoch",
    save_strategy="no",
    report_to="none",
    use_cpu=True,
    disable_tqdm=True,
    seed=0,
)
trainer = Trainer(
    model=Model(),
    args=arguments,
    train_dataset=data,
    eval_dataset=data,
    callbacks=[ExpmanCallback()],
)
trainer.train()
""" + reporting("trainer.state.log_history")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    need("transformers", "accelerate", "torch")
    for name, value in OFFLINE.items():
        monkeypatch.setenv(name, value)


@pytest.mark.slow
@pytest.mark.usefixtures("offline")
def test_the_callback_writes_the_trainers_log_history(
    experiment: Callable[..., Path], run_cli: RunCli
) -> None:
    summary, points, history = run_in_expman(experiment, run_cli, TRAIN)
    assert len(history) == 11  # 8 steps, 2 evaluations, the totals at the end
    assert points == [pytest.approx(entry, rel=1e-6) for entry in history]
    assert [p["step"] for p in points if "eval_loss" in p] == [4, 8]
    assert summary["loss"]["count"] == 8
    assert summary["eval_loss"]["last"] < summary["eval_loss"]["first"]  # it learned


@pytest.mark.slow
@pytest.mark.usefixtures("offline")
def test_outside_a_run_the_callback_does_nothing(tmp_path: Path) -> None:
    stderr = run_outside(tmp_path, TRAIN, OFFLINE)
    assert "expman" not in stderr

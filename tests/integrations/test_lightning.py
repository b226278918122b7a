"""`expman.integrations.lightning`: a real LightningModule trained with the logger, beside
Lightning's own CSV logger, which must have been handed the same metrics."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import RunCli
from tests.integrations.conftest import need
from tests.integrations.training import reporting, run_in_expman, run_outside

TRAIN = """\
import csv, json, os, sys

import lightning.pytorch as pl
import torch
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader, TensorDataset

from expman.integrations.lightning import ExpmanLogger


class Model(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)

    def loss(self, batch):
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(x).squeeze(-1), y)

    def training_step(self, batch, index):
        loss = self.loss(batch)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, index):
        self.log("val_loss", self.loss(batch))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


pl.seed_everything(0, verbose=False)
x = torch.randn(64, 4)
data = DataLoader(TensorDataset(x, x.sum(dim=1)), batch_size=16)
loggers = [ExpmanLogger()]
if len(sys.argv) > 1:  # Lightning's own logger, to compare with
    loggers.append(CSVLogger(os.path.dirname(sys.argv[1]), name="csv"))
trainer = pl.Trainer(
    max_epochs=2,
    logger=loggers,
    log_every_n_steps=1,
    enable_checkpointing=False,
    enable_progress_bar=False,
    enable_model_summary=False,
    accelerator="cpu",
    devices=int(os.environ.get("DEVICES", "1")),
    strategy="ddp" if os.environ.get("DEVICES", "1") != "1" else "auto",
)
trainer.fit(Model(), data, data)
if len(sys.argv) > 1 and trainer.global_rank == 0:
    with open(os.path.join(loggers[1].log_dir, "metrics.csv")) as f:
        rows = [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]
""" + reporting("rows", when="trainer.global_rank == 0")


@pytest.mark.slow
def test_the_logger_writes_what_lightning_hands_its_loggers(
    experiment: Callable[..., Path], run_cli: RunCli
) -> None:
    need("lightning", "torch")
    summary, points, rows = run_in_expman(experiment, run_cli, TRAIN)
    assert len(rows) == 10  # 4 training steps and a validation per epoch, over 2 epochs
    assert points == [pytest.approx(row, rel=1e-6) for row in rows]
    assert summary["train_loss"]["count"] == 8
    assert summary["val_loss"]["count"] == 2
    assert summary["train_loss"]["last"] < summary["train_loss"]["first"]  # it learned


@pytest.mark.slow
def test_with_two_processes_only_rank_zero_logs(
    experiment: Callable[..., Path], run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    need("lightning", "torch")
    monkeypatch.setenv("DEVICES", "2")  # DDP on the CPU: Lightning starts a second process
    summary, points, rows = run_in_expman(experiment, run_cli, TRAIN)
    assert len(rows) == 6  # each process trains on half the data: 2 steps per epoch
    assert points == [pytest.approx(row, rel=1e-6) for row in rows]  # rank 1 logged nothing
    assert summary["train_loss"]["count"] == 4


@pytest.mark.slow
def test_outside_a_run_the_logger_does_nothing(tmp_path: Path) -> None:
    need("lightning", "torch")
    stderr = run_outside(tmp_path, TRAIN)
    assert "expman" not in stderr

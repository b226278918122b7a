"""`expman.integrations.keras`: a real Keras model trained with the callback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import RunCli
from tests.integrations.conftest import need
from tests.integrations.training import reporting, run_in_expman, run_outside

BACKEND = {"KERAS_BACKEND": "torch"}  # the backend CI installs (the CPU build of PyTorch)

TRAIN = """\
import json, os, sys

import keras
import numpy as np

from expman.integrations.keras import ExpmanCallback

keras.utils.set_random_seed(0)
x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
y = (x.sum(axis=1) > 0).astype("float32")
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
history = model.fit(
    x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0, callbacks=[ExpmanCallback()]
)
""" + reporting("history.history")


@pytest.fixture
def keras_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    need("keras", "torch")
    for name, value in BACKEND.items():
        monkeypatch.setenv(name, value)


@pytest.mark.slow
@pytest.mark.usefixtures("keras_backend")
def test_each_epoch_is_a_point_of_what_keras_reported(
    experiment: Callable[..., Path], run_cli: RunCli
) -> None:
    summary, points, history = run_in_expman(experiment, run_cli, TRAIN)
    assert sorted(history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert [p["step"] for p in points] == [0, 1, 2]
    for name, values in history.items():
        assert [p[name] for p in points] == pytest.approx(values, rel=1e-6)
        assert summary[name]["count"] == 3


@pytest.mark.slow
@pytest.mark.usefixtures("keras_backend")
def test_outside_a_run_the_callback_does_nothing(tmp_path: Path) -> None:
    assert run_outside(tmp_path, TRAIN, BACKEND) == ""

"""A PyTorch Lightning logger: what a `LightningModule` logs, as the run's series.

`Trainer(logger=ExpmanLogger())` (or beside other loggers, in a list) logs each batch of
metrics Lightning hands its loggers (`self.log(...)` in the module, `epoch` too), step =
Lightning's global step, on the process of rank zero only. Hyperparameters are not series
(the run records its vars): they are not logged. Lightning puts checkpoints under a logger's
name and version: `expman/<run id>/checkpoints` in the trainer's root folder
(`expman/checkpoints` outside a run). For the `lightning` package (Lightning 2); importing
this module imports it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only

from expman.integrations import log_values


class ExpmanLogger(Logger):
    """A Lightning logger writing through `expman.log`, step = the global step."""

    @property
    def name(self) -> str:
        """The folder Lightning names after this logger (its checkpoints, if any)."""
        return "expman"

    @property
    def version(self) -> str:
        """The run's id (`0007`), or empty outside a run."""
        run = os.environ.get("EXPMAN_RUN_ID", "")
        return run if re.fullmatch("[0-9]{1,12}", run) else ""

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Lightning calls this with the metrics logged since the last call."""
        log_values(step, metrics)

    @rank_zero_only
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """Hyperparameters are not series: the run records its vars, so none is logged."""

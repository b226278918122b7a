"""A Hugging Face `TrainerCallback`: what `Trainer` logs, as the run's series.

`Trainer(..., callbacks=[ExpmanCallback()])` logs each of the trainer's logs (`loss`,
`grad_norm`, `learning_rate`, `epoch` every `logging_steps`; `eval_*` after each
evaluation; the run's totals at the end), step = the trainer's global step, on the main
process only. Importing this module imports `transformers`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from expman.integrations import log_values


class ExpmanCallback(TrainerCallback):
    """A `TrainerCallback` writing through `expman.log`, step = the global step."""

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """`Trainer` calls this with each of its logs, on every process."""
        if state.is_world_process_zero:
            log_values(state.global_step, logs or {})

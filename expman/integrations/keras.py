"""A Keras callback: each epoch's logs as one point of the run's series.

`model.fit(..., callbacks=[ExpmanCallback()])` logs what Keras reports at the end of each
epoch (the loss, the compiled metrics, their `val_` counterparts, the learning rate when a
scheduler reports it), step = the epoch as Keras counts it (0 first, as `CSVLogger` writes
it). Keras 3, whatever its backend. Importing this module imports Keras.
"""

from __future__ import annotations

from collections.abc import Mapping

import keras

from expman.integrations import log_values


class ExpmanCallback(keras.callbacks.Callback):
    """Log each epoch's logs through `expman.log`, step = the epoch (0 first)."""

    def on_epoch_end(self, epoch: int, logs: Mapping[str, object] | None = None) -> None:
        """Keras calls this after each epoch, validation included."""
        log_values(epoch, logs or {})

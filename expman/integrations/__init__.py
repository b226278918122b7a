"""Framework integrations (SPEC §15): one line in a training script logs what the framework
reports into the run's metric series, exactly as `expman.log` would.

Owns: a scikit-learn search's `cv_results_` as series (`sklearn`), a Keras callback
(`keras`), a PyTorch Lightning logger (`lightning`), a Hugging Face `TrainerCallback`
(`huggingface`). Each writes through `expman.log` and nothing else, so outside a run (no
`$EXPMAN_METRICS`) it does nothing.

Imports: `expman.log` (the bottom of the house) and, in each module, its framework; this
package's `__init__` imports nothing, so `import expman` and `import expman.integrations`
never pull a framework in: only importing `expman.integrations.keras` imports Keras (the
script that uses it has imported Keras already). Nothing in expman imports this package;
the scripts that expman runs do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import expman


def log_values(step: int | float | None, values: Mapping[Any, object]) -> None:
    """`expman.log(step, **values)` for the values a framework reported.

    Keys are taken as text (a keyword argument must be). A key named `step` would clash
    with the step argument: it serves as the step when the framework gave none, and is
    left out otherwise.
    """
    points = {str(key): value for key, value in values.items()}
    given = points.pop("step", None)
    if step is None and isinstance(given, (int, float)):
        step = given
    expman.log(step, **points)

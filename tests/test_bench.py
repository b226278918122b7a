"""The benchmarks' own fairness: a baseline runs with what its users would have."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

from bench import alone


@pytest.mark.slow
def test_sacred_runs_from_a_venv_holding_sacred_alone(tmp_path: Path) -> None:
    pytest.importorskip("sacred", reason='sacred is not installed: pip install -e ".[bench]"')
    if importlib.util.find_spec("numpy") is None:
        pytest.skip("numpy is not installed: nothing here for Sacred to pick up")

    python = alone.make(tmp_path / "venv", "sacred")

    held = alone.distributions(python)
    assert {"sacred", "GitPython", "setuptools"} <= set(held)
    assert not {"numpy", "pandas", "expman", "pytest"} & set(held)
    # Sacred imports numpy and pandas when it finds them; in its own venv it does not.
    probe = "import sacred.optional as o; print(o.has_numpy, o.has_pandas)"
    done = subprocess.run(
        [str(python), "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert done.stdout == "False False\n"

"""Fixtures of the sweep tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.sweeps.bowl import BOWL, EXPFILE


@pytest.fixture
def bowl(experiment: Callable[..., Path]) -> Path:
    """A committed experiment of the bowl (`tests.sweeps.bowl`), ready to search."""
    return experiment(EXPFILE, **{"bowl.py": BOWL})

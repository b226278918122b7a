"""The frameworks the integrations are tested against: real ones, never stand-ins."""

from __future__ import annotations

import importlib.util

import pytest

from tests.conftest import in_ci

HOW = "pip install -e '.[test]' and bash scripts/install-framework-tests"


def need(*modules: str) -> None:
    """Skip the test when a framework is not installed (fail in CI, which installs them all)."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        message = f"{', '.join(missing)} not installed: {HOW}"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)

"""The frameworks the integrations are tested against: real ones, never stand-ins."""

from __future__ import annotations

import importlib.util

from tests.conftest import missing

HOW = "pip install -e '.[test]' and bash scripts/install-framework-tests"


def need(*modules: str) -> None:
    """Skip the test when a framework is not installed (fail in CI, which installs them all)."""
    lacking = [name for name in modules if importlib.util.find_spec(name) is None]
    if lacking:
        missing(f"{', '.join(lacking)} not installed: {HOW}")

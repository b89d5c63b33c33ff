"""Hooks other plugins and conftest files implement to extend pytest-speechlab."""

from __future__ import annotations

import pytest


@pytest.hookspec
def pytest_speechlab_engines() -> dict[str, type]:  # type: ignore[empty-body]
    """Return ``{name: adapter class}`` to make more engines selectable with --speech-model.

    An adapter implements ``pytest_speechlab.engines.Engine``."""

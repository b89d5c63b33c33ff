"""Hooks other plugins and conftest files implement to extend pytest-speechlab."""

from __future__ import annotations

import pytest


@pytest.hookspec
def pytest_speechlab_engines() -> dict[str, type]:  # type: ignore[empty-body]
    """Return ``{name: adapter class}`` to make more engines selectable with --speech-model.

    An adapter implements ``pytest_speechlab.engines.Engine``."""


@pytest.hookspec
def pytest_speechlab_promotion(config, model, target, results):
    """Return the reason(s) to block promoting ``model`` to ``target``, or None to let it pass.

    Called after the run when ``--promote-to`` is given, for every implementation (the
    built-in one included); any reason blocks the promotion and fails the run. ``results`` is a
    ``pytest_speechlab.gate.promotion.Evidence``: the registry entry, the results JSON of each
    device's run, the whole manifest, and the node ids of failed tests."""

"""The plugin's own tests: ``unit/`` (pure functions and toy engines: no model, no subprocess;
CI runs them first) and ``e2e/`` (real models, real servers, subprocesses). A test's folder sets
its marker, so ``-m unit`` and ``-m e2e`` choose them wherever they are named from."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test marked by its folder; the longest (marked ``slow``) first, so that xdist's
    workers, which take tests in this order, are not left one waiting on a long test at the end."""
    for item in items:
        folder = item.path.relative_to(HERE).parts[0] if item.path.is_relative_to(HERE) else ""
        if folder in ("unit", "e2e"):
            item.add_marker(folder)
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)

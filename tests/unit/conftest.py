"""The unit tests: pure functions and toy engines, no model and no subprocess, so that CI has
their answer within a minute. A unit test that starts a program or imports a model's runtime
fails, naming what it did: such a test belongs in ``tests/e2e``. The programs the plugin itself
runs to record provenance are allowed: ``git`` (who, which commit) and ``uname`` (the processor,
through ``platform``)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

PROVENANCE = ("git", "uname")
# The runtimes behind the real engines and judges: importing one means a model is near.
RUNTIMES = ("ctranslate2", "torch", "onnxruntime", "piper", "transformers", "librosa", "numba")


class NotAUnitTest(Exception):
    pass


_popen = subprocess.Popen.__init__


def _only_provenance(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
    program = args[0] if isinstance(args, list | tuple) else str(args).split()[0]
    if program not in PROVENANCE:
        raise NotAUnitTest(f"started {program!r} in a unit test: move the test to tests/e2e")
    _popen(self, args, *rest, **kwargs)


@pytest.fixture(autouse=True)
def no_model_no_subprocess() -> Iterator[None]:
    """Its own monkeypatch, so that it is undone last: after the test's own (which may stage a
    module in ``sys.modules``) is."""
    before = {name for name in RUNTIMES if name in sys.modules}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess.Popen, "__init__", _only_provenance)
        yield
    imported = sorted(name for name in RUNTIMES if name in sys.modules and name not in before)
    if imported:
        raise NotAUnitTest(f"imported {', '.join(imported)} in a unit test: move the test to tests/e2e")

"""Where the session keeps its state on the pytest config: a key every hook shares, kept apart so
that an inert run imports nothing to read it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .session import SpeechSession

SESSION: pytest.StashKey[SpeechSession] = pytest.StashKey()

"""The tolerance table (``core.settings.Tolerances``, one row per tolerance) makes the flags, the
``[tool.speechlab]`` and registry keys, the loaded settings and the promotion's fixed set: a
tolerance added as a row is in all of them, and none of them lists its own."""

from __future__ import annotations

from dataclasses import fields

import pytest

from pytest_speechlab.core.settings import FILE_KEYS, TOLERANCE_KEYS, Tolerances
from pytest_speechlab.plugin.options import load_settings
from pytest_speechlab.plugin.session import FIXED_FOR_PROMOTION
from pytest_speechlab.store.registry import TOLERANCES

NAMES = [row.name for row in fields(Tolerances)]


@pytest.fixture
def config(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    """``config(*args)``: pytest's configuration with the plugin alone (no other installed plugin)."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    return lambda *args: pytester.parseconfig("-p", "pytest_speechlab.plugin", *args)


def test_every_row_is_a_file_key_a_registry_key_and_fixed_during_a_promotion():
    assert len(NAMES) == 9 and TOLERANCE_KEYS == tuple(f"{n}_tolerance" for n in NAMES)
    assert set(TOLERANCE_KEYS) <= FILE_KEYS and TOLERANCES == TOLERANCE_KEYS
    for name in NAMES:
        assert FIXED_FOR_PROMOTION[f"speech_{name}_tolerance"] == f"--speech-{name}-tolerance"


def test_every_row_is_a_flag_with_its_unit_and_default(config):
    parsed = config()
    actions = {a.dest: a for a in parsed._parser.optparser._actions}  # the parser pytest built
    for row in fields(Tolerances):
        action = actions[f"speech_{row.name}_tolerance"]
        assert action.option_strings == [f"--speech-{row.name}-tolerance"]
        assert action.metavar == row.metadata["unit"] and action.default is None  # unset: file or default
        assert action.help.endswith(f"(default {row.default:g})")
    assert actions["speech_timestamp_tolerance"].help.endswith("in ms (default 50)")


def test_the_file_and_the_command_line_reach_every_tolerance(pytester: pytest.Pytester, config):
    keys = "\n".join(f"{key} = {i / 100}" for i, key in enumerate(TOLERANCE_KEYS, 1))
    pytester.makepyprojecttoml(f"[tool.speechlab]\n{keys}\n")
    settings = load_settings(config("--speech-dnsmos-tolerance=0.7"))
    expected = {name: (0.7 if name == "dnsmos" else i / 100) for i, name in enumerate(NAMES, 1)}
    assert {name: getattr(settings.tolerances, name) for name in NAMES} == expected
    assert settings.given_tolerances == {"dnsmos"}
    assert load_settings(config()).tolerances == Tolerances(**{n: i / 100 for i, n in enumerate(NAMES, 1)})

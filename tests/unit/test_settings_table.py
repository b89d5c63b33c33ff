"""The settings table (``core.settings.OPTIONS``, one row per setting; a tolerance's row made from
its ``Tolerances`` field) makes the flags, the ``[tool.speechlab]`` and registry keys, the loaded
settings and the promotion's fixed set: a setting added as a row is in all of them, and none of
them lists its own."""

from __future__ import annotations

from dataclasses import fields

import pytest

from pytest_speechlab.core.settings import FILE_KEYS, OPTIONS, REGISTRY_KEYS, Settings, Tolerances
from pytest_speechlab.errors import SpeechlabError
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
    assert len(NAMES) == 9 and REGISTRY_KEYS == tuple(f"{n}_tolerance" for n in NAMES)
    assert set(REGISTRY_KEYS) <= FILE_KEYS and TOLERANCES == REGISTRY_KEYS
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
    keys = "\n".join(f"{key} = {i / 100}" for i, key in enumerate(REGISTRY_KEYS, 1))
    pytester.makepyprojecttoml(f"[tool.speechlab]\n{keys}\n")
    settings = load_settings(config("--speech-dnsmos-tolerance=0.7"))
    expected = {name: (0.7 if name == "dnsmos" else i / 100) for i, name in enumerate(NAMES, 1)}
    assert {name: getattr(settings.tolerances, name) for name in NAMES} == expected
    assert settings.given_tolerances == {"dnsmos"}
    assert load_settings(config()).tolerances == Tolerances(**{n: i / 100 for i, n in enumerate(NAMES, 1)})


def test_every_setting_is_one_row_from_which_the_flags_keys_and_fixed_set_are_made(config):
    """The settings table (``core.settings.OPTIONS``) is the only list of settings: each row with a
    flag is a pytest option, each with a key a ``[tool.speechlab]`` key, each fixed one refused
    beside --promote-to, and each row's default is its Settings field's."""
    rows = {row.name: row for row in OPTIONS}
    assert len(rows) == len(OPTIONS)  # one row a setting
    assert FILE_KEYS == {row.key for row in OPTIONS if row.key}
    fixed = {row.dest: row.flag for row in OPTIONS if row.fixed}
    assert FIXED_FOR_PROMOTION == {**fixed, "inifilename": "-c/--config-file"}
    assert {"manifest", "baselines", "tags", "new_cases", "judge", "repeats", "warmup"} <= {
        row.name for row in OPTIONS if row.fixed
    }
    actions = {a.dest: a for a in config()._parser.optparser._actions}
    for row in OPTIONS:
        if row.flag:
            assert actions[row.dest].option_strings == [row.flag]
    defaults = Settings()
    assert rows["repeats"].default == defaults.repeats == 5 and rows["device"].default == "auto"
    assert actions["speech_repeats"].help.endswith("(default 5)")
    assert rows["wer"].default == Tolerances().wer and rows["latency_tags"].flag is None


def test_each_kind_of_row_reads_the_command_line_over_the_file(pytester: pytest.Pytester, config):
    pytester.makepyprojecttoml(
        '[tool.speechlab]\nmodels = "a,b"\nrepeats = 3\nnew_cases = "pass"\njudge = "none"\n'
        'latency_tags = ["slow"]\nbaselines = "kept"\n'
    )
    settings = load_settings(config("--speech-repeats=7"))
    assert settings.models == ("a", "b") and settings.repeats == 7 and settings.new_cases == "pass"
    assert settings.judge is None and settings.latency_tags == ("slow",)
    assert settings.baselines == (pytester.path / "kept").resolve()
    assert load_settings(config("--speech-baselines=here")).baselines == (pytester.path / "here").resolve()
    pytester.makepyprojecttoml('[tool.speechlab]\nnew_cases = "maybe"\n')
    with pytest.raises(SpeechlabError, match=r"pyproject.toml: new_cases must be 'fail' or 'pass'$"):
        load_settings(config())
    pytester.makepyprojecttoml("[tool.speechlab]\nrepeats = -1\n")
    with pytest.raises(SpeechlabError, match=r"^--speech-repeats/repeats: expected a finite number >= 0"):
        load_settings(config())

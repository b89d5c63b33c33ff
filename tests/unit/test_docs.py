"""The documentation says what the code does: every option, configuration key and command is
documented, and nothing documented is missing from the code."""

from __future__ import annotations

import re

import pytest

from pytest_speechlab import cli
from pytest_speechlab.core.settings import FILE_KEYS

from ..projects import REPO

OPTIONS = (REPO / "docs" / "options.md").read_text()


def table_rows(text: str, heading: str) -> list[list[str]]:
    section = text.split(heading, 1)[1]
    rows = []
    for line in section.splitlines():
        if line.startswith("|") and not line.startswith("| ---"):
            rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
        elif rows and not line.startswith("|"):
            break
    return rows[1:]  # without the header


def test_every_option_is_documented_and_every_documented_option_exists(pytestconfig: pytest.Config):
    rows = table_rows(OPTIONS, "# Options")
    documented = {re.match(r"`(--[a-z-]+)", r[0]).group(1) for r in rows if r[0].startswith("`--")}  # type: ignore[union-attr]
    group = next(g for g in pytestconfig._parser._groups if g.name == "speechlab")
    actual = {name for option in group.options for name in option.names() if name.startswith("--")}
    assert documented == actual


def test_every_configuration_key_is_documented():
    rows = table_rows(OPTIONS, "# Options")
    keys = {m.group(1) for r in rows if (m := re.match(r"`(\w+)`$", r[1]))}
    keys |= {"options"} if any("[tool.speechlab.options.MODEL]" in r[1] for r in rows) else set()
    assert keys == FILE_KEYS


def test_every_command_is_documented():
    rows = table_rows(OPTIONS, "## The `speechlab` command")
    documented = {w for r in rows for w in re.findall(r"`speechlab (\w+)", r[0])}
    documented |= {w for r in rows for w in re.findall(r"`(\w+) NAME`", r[0])}  # show NAME, history NAME
    commands = set(cli.parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert documented == commands

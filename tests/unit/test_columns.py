"""The one number format every view writes figures with."""

from __future__ import annotations

from pytest_speechlab.report.columns import MS, RTF, figure, latency, number, pair


def test_a_figure_has_its_kinds_digits_and_a_dash_where_there_is_none():
    assert number(0.25) == "0.2500" and number(1 / 3, RTF) == "0.333" and number(612.04, MS) == "612.0"
    assert number(0.0125, sign="+") == "+0.0125" and number(-0.5, sign="+") == "-0.5000"
    assert number(None) == number("0.1") == number(True) == "-"  # a bool is not a figure
    assert figure(0.12345) == "0.1235" and figure(612.04) == "612.0" and figure(-20.0, "+") == "-20.0"


def test_a_latency_shows_its_range_and_runs_only_when_timed_repeatedly():
    assert latency(680.24, 667.0, 700.1, 5) == "680.2 [667.0-700.1] x5"
    assert latency(680.24) == "680.2 (1 run)" and latency(680.24, 1.0, 2.0, 1) == "680.2 (1 run)"
    assert latency(None) == "-"


def test_a_pair_puts_the_run_beside_its_baseline():
    assert pair(0.25, 0.2) == "0.2500 / 0.2000" and pair(0.3, None, RTF) == "0.300 / -"

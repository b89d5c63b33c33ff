"""The HTML report: rendered from hand-built results that mimic ``results.run_json``, and once
from a real run through ``--speech-report``."""

from __future__ import annotations


def test_speech_report_from_a_real_run(project):
    """``--speech-report`` through the plugin, real Faster-Whisper on the short cases."""
    report = project.path / "out" / "report.html"
    result = project.run("--update-baselines", "--speech-report=out/report.html")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["speechlab: report written to */out/report.html"])
    page = report.read_text()
    assert page.count("data:image/png;base64,") >= 2  # per-case WER; latency of the timed case
    assert all(case["id"] in page for case in project.cases)
    assert "faster_whisper" in page and "baselines recorded by this run (nothing was compared)" in page
    again = project.run("--speech-report=out/report.html")
    assert again.ret == 0 and "no regressions against the baselines" in report.read_text()

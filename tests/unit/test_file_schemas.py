"""Files an earlier version wrote still read: a baseline and a results file written by 0.2.0
(committed under tests/data/v0.2.0) load, compare and render; a file of an unknown schema is
refused in one line naming it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_speechlab.core.case import Case
from pytest_speechlab.core.metrics import Timing, score
from pytest_speechlab.errors import SpeechlabError
from pytest_speechlab.gate.checks import PASS
from pytest_speechlab.gate.verdicts import case_part
from pytest_speechlab.measure.results import CaseResult, text_digest
from pytest_speechlab.report.compare import compare
from pytest_speechlab.report.html import render
from pytest_speechlab.report.results_file import RESULTS_SCHEMA, results_document, runs_of
from pytest_speechlab.store.baselines import SCHEMA, Comparison, read_baseline

V020 = Path(__file__).parent.parent / "data" / "v0.2.0"
JFK = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."  # noqa: E501


def test_a_baseline_written_by_0_2_0_loads_and_judges_a_run():
    baseline = read_baseline(V020 / "faster_whisper-cpu.json")
    assert (
        baseline is not None
        and json.loads((V020 / "faster_whisper-cpu.json").read_text())["schema"] == SCHEMA
    )
    entry = baseline.cases["jfk"]
    assert entry["reference_sha256"] == text_digest(JFK) and "cpu_min_ms" not in entry  # before CPU time
    against = Comparison("faster_whisper on cpu", baseline.path, baseline)
    heard = entry["hypothesis"]
    result = CaseResult(
        Case("jfk", Path("jfk.wav"), JFK, 11.0), heard, score(JFK, heard), Timing((0.8,)), against
    )
    part = case_part(result, ("wer", "cer"))
    assert part.verdict == PASS and [c.metric for c in part.checks] == ["WER", "CER"]


def test_a_results_file_written_by_0_2_0_is_migrated_compared_and_rendered():
    old = json.loads((V020 / "results.json").read_text())
    assert "schema" not in old and all("note" not in o for c in old["cases"] for o in c["outcomes"])
    (run,) = runs_of(old, "results.json")
    assert all(o.note == "" for c in run.cases for o in (c.part.checks if c.part else []))
    assert [c.id for c in run.cases] == [c["id"] for c in old["cases"]]
    assert [c.verdict for c in run.cases] == [c["verdict"] for c in old["cases"]]
    assert run.verdict is not None and run.verdict.overall == old["verdict"]["overall"]
    lines = {o.line for c in run.cases for o in (c.part.checks if c.part else [])}
    assert lines == {o["line"] for c in old["cases"] for o in c["outcomes"]}  # each check's line, as shown
    now = results_document([run])
    assert now["schema"] == RESULTS_SCHEMA and runs_of(now, "now.json") == [run]
    assert json.loads(json.dumps(now)) == now  # the records write plain JSON
    lines = compare(old, now, ("old.json", "now.json"))
    assert any(
        line.startswith("jfk ") and line.split()[-4:] == ["same", "pass", "/", "pass"] for line in lines
    )
    assert "cards_002" in render([run])


def test_a_results_file_of_an_unknown_schema_or_shape_is_refused_naming_it():
    with pytest.raises(SpeechlabError, match=r"^later.json: unsupported results schema 3 \(expected 2\)$"):
        runs_of({"schema": 3, "model": "m", "cases": []}, "later.json")
    with pytest.raises(SpeechlabError, match=r"^list.json: not a results file written by --speech-results$"):
        runs_of([], "list.json")
    with pytest.raises(SpeechlabError, match=r"^empty.json: not a results file"):
        runs_of({"schema": 2, "runs": []}, "empty.json")

"""Every view of one verdict says the same: a property test over staged runs.

Hypothesis stages a run against a baseline (cases heard right or wrong, with no baseline entry,
with an edited reference, timed quiet or under load, a model with other options, a manifest
without some baseline entries, new cases passing or failing), the gate judges it once, and every
writer renders that verdict: the terminal summary, the Markdown summary, the results file, and
the HTML report and ``speechlab compare`` made from the file. Each must show the run's outcome
and every case's, every line of why a part does not pass, and every note (how the model
differs, unused baseline entries, why a figure beyond its limit still passes, why the corpus was
not gated, what could not be measured).
A writer that drops any of them fails this test.
"""

from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_speechlab.gate.checks import PASS, Check
from pytest_speechlab.gate.records import run_record
from pytest_speechlab.gate.verdicts import Part, RunVerdict, judge_run
from pytest_speechlab.measure.run import ModelRun
from pytest_speechlab.report.columns import number
from pytest_speechlab.report.compare import compare
from pytest_speechlab.report.html import render
from pytest_speechlab.report.markdown import run_markdown
from pytest_speechlab.report.results_file import results_document, runs_of
from pytest_speechlab.report.terminal import run_lines

from .test_verdicts import CASES, IDS, RIGHT, ToyInt8Engine, ToySpeechEngine, hear, recorded, timed, toy_run

# Under mutation testing (mutmut sets MUTANT_UNDER_TEST) fewer examples: each mutant reruns these.
EXAMPLES = 12 if os.environ.get("MUTANT_UNDER_TEST") else 60

WRONG = {"a": "the quick brown box", "b": "seven tall ships", "c": "a lazy dog barks", "quiet": "you"}


@dataclass(frozen=True)
class Views:
    """What each writer made of one verdict: the texts a person reads and the results file."""

    terminal: str
    markdown: str
    page: str  # the HTML report, unescaped
    compared: str  # ``speechlab compare`` of the results file with itself
    document: dict[str, Any]

    def texts(self) -> dict[str, str]:
        return {"terminal": self.terminal, "markdown": self.markdown, "html": self.page}


def render_all(run: ModelRun, verdict: RunVerdict) -> Views:
    record = run_record(run, verdict)
    document = json.loads(json.dumps(results_document([record])))
    (read,) = runs_of(document, "results.json")  # the file as ``speechlab report`` reads it back
    assert read == record  # the record reads back whole, every part and check
    with pytest.MonkeyPatch.context() as patch:  # the plots say nothing of the verdict, and are slow
        patch.setattr("pytest_speechlab.report.html._plots", lambda runs: [])
        page = html.unescape(render([read]))
    terminal, summary = "\n".join(run_lines(run, verdict)), "\n".join(run_markdown(run, verdict, None))
    compared = "\n".join(compare(document, document, ("a.json", "b.json")))
    return Views(terminal, summary, page, compared, document)


def notes(verdict: RunVerdict) -> list[str]:
    """Every note of the verdict a person must not miss."""
    found = [*verdict.identity, *verdict.unused]
    for part in [*verdict.runwide().values(), *verdict.cases.values()]:
        found += part.notes + ([part.not_gated] if part.not_gated else [])
        found += [c.outcome_note for c in part.checks if c.outcome_note]
    return found


def _checks(verdict: RunVerdict) -> list[Check]:
    return [c for part in [*verdict.cases.values(), *verdict.runwide().values()] for c in part.checks]


@st.composite
def staged_runs(draw: st.DrawFn) -> tuple[ModelRun, RunVerdict]:
    """A run and its verdict, against a baseline staged in any of the ways a gate meets one."""
    some = st.sets(st.sampled_from(sorted(IDS)))
    recorded_ids = draw(st.one_of(st.just(IDS), some))  # a whole baseline half the time
    stored_wrong = draw(some)
    edited = draw(st.one_of(st.just(set()), st.sets(st.sampled_from(sorted(recorded_ids or IDS)))))
    edited &= recorded_ids
    timed_ids = draw(st.sets(st.sampled_from(["a", "b"])))
    baseline = None
    if recorded_ids:
        cases = tuple(c for c in CASES if c.id in recorded_ids)
        heard = {i: WRONG[i] if i in stored_wrong else RIGHT[i] for i in recorded_ids}
        baseline = recorded(heard, cases, {i: timed(0.5) for i in timed_ids if i in recorded_ids})
        for case_id in edited:
            baseline.cases[case_id]["reference_sha256"] = "0" * 16
        if not draw(st.booleans()):
            baseline.corpus.clear()  # a baseline recorded before the corpus was
    engine = draw(st.sampled_from([ToySpeechEngine, ToyInt8Engine]))
    new_cases = draw(st.sampled_from(["fail", "pass"]))
    run = toy_run(baseline, engine=engine, new_cases=new_cases)
    heard_now = {c.id: WRONG[c.id] if draw(st.booleans()) else RIGHT[c.id] for c in CASES}
    slow, others = draw(st.sampled_from([0.5, 2.0])), draw(st.sampled_from([0.0, 0.9]))
    hear(run, heard_now, {i: timed(slow, others) for i in timed_ids})
    manifest = IDS - draw(st.sets(st.sampled_from(sorted(IDS)), max_size=1))
    return run, judge_run(run, manifest)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(staged=staged_runs())
def test_every_view_shows_every_outcome_reason_and_note_of_the_verdict(staged: tuple[ModelRun, RunVerdict]):
    run, verdict = staged
    views = render_all(run, verdict)
    data = views.document
    # the results file carries the verdict itself
    assert data["verdict"]["overall"] == verdict.overall and data["verdict"]["failures"] == verdict.failures
    assert {c["id"]: c["verdict"] for c in data["cases"]} == {i: p.verdict for i, p in verdict.cases.items()}
    assert (data["corpus"] or {}).get("verdict") == (verdict.corpus.verdict if verdict.corpus else None)
    for case_id, part in verdict.cases.items():  # compare: each case's outcome, its WER as written
        wer = number(run.results[case_id].score.wer)
        assert any(
            line.split()[:3] == [case_id, wer, wer] and line.endswith(f"{part.verdict} / {part.verdict}")
            for line in views.compared.splitlines()
        ), case_id
        assert f'<td class="l">{case_id}</td><td>{wer}</td>' in views.page
    for name, text in views.texts().items():
        assert verdict.overall in text, name
        for case_id, part in verdict.cases.items():  # each case's row (a summary: each not passing)
            if name == "markdown" and part.verdict == PASS:
                continue
            rows = [line for line in text.splitlines() if case_id in line and part.verdict in line]
            assert rows, (name, case_id)
        for outcome, n in verdict.counts().items():
            assert f"{n} {outcome.lower()}" in text.lower() or name != "markdown", (name, outcome)
        for line in verdict.failures:  # why each part does not pass, in its own words
            where, why = line.split(": ", 1)
            assert where in text and why in text, (name, line)
        for note in notes(verdict):
            assert note in text, (name, note)
        for check in _checks(verdict):  # each outcome beside its figure, with its note where it has one
            if not check.passed:
                assert check.describe() in text or check.metric in text, (name, check.metric)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(staged=staged_runs())
def test_each_part_of_a_verdict_is_a_record_that_reads_back_the_same(staged: tuple[ModelRun, RunVerdict]):
    """A part as the results file keeps it (``to_json``) reads back (``from_json``) into a part
    with the same outcome, reasons, notes and the same line, outcome and note for each check."""
    _, verdict = staged
    for part in [*verdict.cases.values(), *verdict.runwide().values()]:
        again = Part.from_json(json.loads(json.dumps(part.to_json())))
        assert (again.verdict, again.why, again.notes, again.not_gated) == (
            part.verdict,
            part.why,
            part.notes,
            part.not_gated,
        )
        for before, after in zip(part.checks, again.checks, strict=True):
            assert after.describe() == before.describe()
            assert (after.outcome, after.outcome_note) == (before.outcome, before.outcome_note)
            assert after.to_json() == json.loads(json.dumps(before.to_json()))

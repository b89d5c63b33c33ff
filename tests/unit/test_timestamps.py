"""Word-timestamp error against reference alignments, on faster-whisper's own word timestamps;
and how a run measures, records and gates it, on a toy engine with known word times."""

from __future__ import annotations

import json
import sys
import time
from itertools import pairwise
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import soundfile
import yaml

from pytest_speechlab.core.metrics import normalize
from pytest_speechlab.core.settings import Settings
from pytest_speechlab.core.timestamps import Word, offsets, summarize, timestamp_error
from pytest_speechlab.engines import ModelIdentity
from pytest_speechlab.engines.base import Segment
from pytest_speechlab.engines.base import Word as TimedWord
from pytest_speechlab.gate.checks import FAIL, PASS
from pytest_speechlab.gate.verdicts import judge_run
from pytest_speechlab.io.manifest import load_manifest
from pytest_speechlab.io.textgrid import read_textgrid
from pytest_speechlab.measure.record import new_baseline
from pytest_speechlab.measure.results import Measured, dumps_measured, loads_measured
from pytest_speechlab.measure.run import AudioCache, ModelRun
from pytest_speechlab.measure.word_timestamps import pooled
from pytest_speechlab.store.baselines import Baseline, Comparison

from ..projects import bundled_cases

ALIGNMENTS = Path(__file__).resolve().parents[2] / "data" / "alignments"
ALIGNED = ("praatio_mary", "praatio_bobby", "spontaneous_acoustic", "spontaneous_cold")
MARY: list[Word] = [("mary", 0.30, 0.60), ("rolled", 0.60, 0.90), ("the", 0.90, 1.00), ("barrel", 1.00, 1.50)]


def test_matched_words_their_offsets_and_the_summary():
    hyp = [(" Mary,", 0.35, 0.60), (" rolled", 0.60, 1.10), (" a", 1.10, 1.20), (" barrel.", 1.00, 1.40)]
    matched, words = offsets(MARY, hyp)
    assert words == 4 and [o.word for o in matched] == [
        "mary",
        "rolled",
        "barrel",
    ]  # "the" -> "a" is not timed
    assert [(round(o.start, 3), round(o.end, 3)) for o in matched] == [(0.05, 0.0), (0.0, 0.2), (0.0, -0.1)]
    error = summarize(matched, words)
    assert error.matched == 3 and error.start_mean_ms == pytest.approx(50 / 3)
    assert error.end_mean_ms == pytest.approx(100) and error.end_p95_ms == pytest.approx(190)
    assert error.within_100ms == pytest.approx(2 / 3)  # 100 ms exactly is within
    assert "3 of 4 words matched" in error.describe()
    json.dumps(error.as_dict())


def test_a_staged_shift_of_the_word_times_is_measured():
    shifted = [(w, s + 0.3, e + 0.3) for w, s, e in MARY]
    error = timestamp_error(MARY, shifted)
    assert error.start_mean_ms == pytest.approx(300) and error.end_p95_ms == pytest.approx(300)
    assert error.within_100ms == 0.0
    assert timestamp_error(MARY, MARY).within_100ms == 1.0
    assert timestamp_error(MARY, []).matched == 0


def test_words_are_normalised_one_by_one_as_the_gate_normalises_texts():
    # "um" is dropped by the normaliser, "I'm" becomes two tokens with the word's times
    ref = [("um", 0.0, 0.2), ("i'm", 0.2, 0.5), ("here", 0.5, 0.8)]
    hyp = [(" I'm", 0.25, 0.5), (" here.", 0.5, 0.8)]
    matched, words = offsets(ref, hyp)
    assert words == len(normalize("i'm here").split()) and len(matched) == words


@pytest.mark.parametrize("case_id", ALIGNED)
def test_the_bundled_alignments_match_their_cases_transcripts(case_id: str):
    words = read_textgrid(ALIGNMENTS / f"{case_id}.TextGrid")
    case = next(c for c in bundled_cases() if c.id == case_id)
    aligned, said = normalize(" ".join(w for w, _, _ in words)).split(), normalize(case.text).split()
    # the aligner's TextGrid labels one of "words words words words" as "word"
    assert len(aligned) == len(said) and sum(a != b for a, b in zip(aligned, said, strict=True)) <= 1
    assert all(0 <= s < e <= case.duration_s + 1e-6 for _, s, e in words)
    assert all(a[2] <= b[1] + 1e-9 for a, b in pairwise(words))


SAID = {"mary": "mary rolled the barrel", "bob": "bobby ripped the ledger"}


def write_textgrid(path: Path, words: list[Word], duration: float) -> None:
    from praatio import textgrid

    grid = textgrid.Textgrid()
    grid.addTier(textgrid.IntervalTier("words", [(s, e, w) for w, s, e in words], 0, duration))
    grid.save(str(path), format="long_textgrid", includeBlankSpaces=True)


@pytest.fixture
def aligned_manifest(tmp_path: Path) -> Path:
    """Two cases of two seconds of silence, each with a TextGrid: one word every 0.4 s from 0.2 s."""
    entries = []
    for case_id, text in SAID.items():
        soundfile.write(tmp_path / f"{case_id}.wav", np.zeros(32000, np.float32), 16000)
        words = [(w, round(0.2 + 0.4 * i, 3), round(0.5 + 0.4 * i, 3)) for i, w in enumerate(text.split())]
        write_textgrid(tmp_path / f"{case_id}.TextGrid", words, 2.0)
        entry = {"id": case_id, "audio": f"{case_id}.wav", "text": text, "alignment": f"{case_id}.TextGrid"}
        entries.append(entry)
    entries.append({"id": "plain", "audio": "mary.wav", "text": "mary rolled the barrel"})
    (tmp_path / "manifest.yaml").write_text(yaml.safe_dump({"cases": entries}))
    return tmp_path / "manifest.yaml"


class ToyTextEngine:
    """A toy speech-to-text engine for the measuring tests, without word timings: it hears each
    case's text at once (the test tells it which case it is given)."""

    name = "toy_text"
    tasks: ClassVar[tuple[str, ...]] = ("asr",)
    sample_rate = 16000
    default_options: ClassVar[dict[str, Any]] = {}
    identity = ModelIdentity("toy 1", "toy", "package:toy", "sha256:aa", "cpu", "float32")

    @classmethod
    def unavailable(cls, device: str) -> str | None:
        return None

    @classmethod
    def load(cls, source: str | None, device: str, options: dict[str, Any]) -> ToyTextEngine:
        return cls()

    def __init__(self) -> None:
        self.case = ""

    def transcribe(self, audio: np.ndarray, language: str | None) -> str:
        return SAID.get(self.case, "")


class ToyTimedEngine(ToyTextEngine):
    """The toy with word timings: each word of ``heard_with_times`` ``late`` seconds after the
    alignments above and 0.1 s longer; a pass with timings takes 0.5 s."""

    name = "toy_timed"
    late: ClassVar[dict[str, float]] = {"mary": 0.1, "bob": 0.3}
    heard_with_times: ClassVar[dict[str, str]] = {"mary": "mary rolled a barrel", "bob": SAID["bob"]}

    def transcribe_segments(
        self, audio: np.ndarray, language: str | None, word_timestamps: bool
    ) -> list[Segment]:
        time.sleep(0.5)
        late, text = self.late[self.case], self.heard_with_times[self.case]
        words = tuple(
            TimedWord(w, 0.2 + 0.4 * i + late, 0.6 + 0.4 * i + late) for i, w in enumerate(text.split())
        )
        return [Segment(text, words[0].start, words[-1].end, words if word_timestamps else ())]


class ToyLate(ToyTimedEngine):
    """The timed toy with bob's words 200 ms later than before."""

    late: ClassVar[dict[str, float]] = {"mary": 0.1, "bob": 0.5}


def toy_run(
    manifest: Path, engine: type = ToyTimedEngine, baseline: Baseline | None = None, **kw: Any
) -> ModelRun:
    cases = load_manifest(manifest).cases
    against = Comparison(f"{engine.name} on cpu", manifest.parent / "b.json", baseline, **kw)
    return ModelRun(engine.name, "cpu", engine, Settings(warmup=0), cases, AudioCache(), against)


def measure_all(run: ModelRun) -> ModelRun:
    for case in run.cases:
        run.engine.case = case.id  # type: ignore[attr-defined]
        run.measure(case)
    return run


def test_a_run_measures_the_aligned_cases_word_timestamps_untimed_and_apart_from_the_gated_text(
    aligned_manifest: Path,
):
    run = toy_run(aligned_manifest)
    measure_all(run)
    mary, bob, plain = (run.results[i] for i in ("mary", "bob", "plain"))
    assert mary.score.wer == 0.0 and mary.raw_hypothesis == SAID["mary"]  # not the timed pass's "a"
    assert mary.timing.runs[0] < 0.25  # the 0.5 s pass with word timings is outside the timed run
    assert mary.timestamps == {
        "reference_words": 4, "matched": 3, "start_mean_ms": 100.0, "start_p95_ms": 100.0,
        "end_mean_ms": 200.0, "end_p95_ms": 200.0, "within_100ms": 0.0,
    }  # fmt: skip
    assert [o.word for o in mary.word_offsets] == ["mary", "rolled", "barrel"]
    assert bob.timestamps and bob.timestamps["start_mean_ms"] == pytest.approx(300.0)
    assert plain.timestamps is None and plain.word_offsets == ()  # no alignment, no extra pass
    assert run.timestamps_note is None
    # pooled over the words, not the cases: (3 x 100 + 4 x 300) / 7 ms
    error, cases = pooled(run.results.values()) or (None, 0)
    assert cases == 2 and error is not None and error.matched == 7 and error.reference_words == 8
    assert error.start_mean_ms == pytest.approx(1500 / 7) and error.start_p95_ms == pytest.approx(300.0)
    # across processes (pytest-xdist), with the offsets the pooled figure needs
    cases_by_id = {c.id: c for c in run.cases}
    sent = dumps_measured(Measured(list(run.results.values()), [], []))
    back = loads_measured(sent, cases_by_id, run.against).results
    assert [r.timestamps for r in back] == [r.timestamps for r in run.results.values()]
    assert pooled(back) == pooled(run.results.values())


def test_an_engine_without_word_timings_measures_none_and_says_so_once(aligned_manifest: Path):
    run = toy_run(aligned_manifest, ToyTextEngine)
    measure_all(run)
    assert all(r.timestamps is None for r in run.results.values()) and pooled(run.results.values()) is None
    assert run.timestamps_note == "word timestamps not measured: toy_text gives no word timings"


def test_without_praatio_the_run_measures_none_and_fails_nothing(
    aligned_manifest: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setitem(sys.modules, "praatio", None)  # as if the timestamps extra were not installed
    run = toy_run(aligned_manifest)
    measure_all(run)
    assert all(r.timestamps is None for r in run.results.values()) and not run.errors
    assert run.timestamps_note and "need praatio (pytest-speechlab[timestamps])" in run.timestamps_note


def test_the_baseline_records_the_figures_and_later_words_fail_their_case(aligned_manifest: Path):
    recording = toy_run(aligned_manifest, update=True)
    measure_all(recording)
    baseline = new_baseline(recording, full_manifest=True).baseline
    assert baseline.cases["mary"]["timestamps"] == recording.results["mary"].timestamps
    assert "timestamps" not in baseline.cases["plain"]
    assert judge_run(measure_all(toy_run(aligned_manifest, baseline=baseline))).overall == PASS
    verdict = judge_run(measure_all(toy_run(aligned_manifest, ToyLate, baseline)))  # bob 200 ms later
    assert verdict.cases["mary"].verdict == PASS and verdict.cases["bob"].verdict == FAIL
    assert verdict.cases["bob"].why == [
        "word start error mean ms 500 exceeds limit 350 (baseline 300, tolerance +50 ms), missed by 150",
        "word end error mean ms 600 exceeds limit 450 (baseline 400, tolerance +50 ms), missed by 150",
    ]


def test_every_output_shows_the_pooled_figure_and_the_failing_case(aligned_manifest: Path):
    from pytest_speechlab.gate.records import RunRecord, run_record
    from pytest_speechlab.report.html import render
    from pytest_speechlab.report.markdown import run_markdown
    from pytest_speechlab.report.terminal import run_lines

    recording = measure_all(toy_run(aligned_manifest, update=True))
    run = measure_all(toy_run(aligned_manifest, ToyLate, new_baseline(recording, True).baseline))
    verdict = judge_run(run)
    pooled_line = (
        "  word timestamps: 7 of 8 words matched; start error mean 329 ms, p95 500 ms; end error mean "
        "429 ms, p95 600 ms; 0% within 100 ms (pooled over 2 aligned cases)"
    )  # (3 x 100 + 4 x 500) / 7 ms
    assert pooled_line in run_lines(run, verdict)
    assert any(
        line == f"| word timestamps | | {pooled_line.strip()} | | reported |"
        for line in run_markdown(run, verdict, None)
    )
    data = json.loads(json.dumps(run_record(run, verdict).to_json()))
    assert data["timestamps"]["matched"] == 7 and data["timestamps"]["cases"] == 2
    bob = next(c for c in data["cases"] if c["id"] == "bob")
    assert (
        bob["timestamps"]["start_mean_ms"] == 500.0
        and bob["baseline"]["timestamps"]["start_mean_ms"] == 300.0
    )
    assert bob["verdict"] == FAIL and bob["why"][0].startswith(
        "word start error mean ms 500 exceeds limit 350"
    )
    page = render([RunRecord.from_json(data)])
    assert '<h2 id="word-timestamps">Word timestamps</h2>' in page
    assert '<tr class="fail"><td class="l">bob</td><td>4 of 4</td><td>500 / 300</td>' in page

    untimed = measure_all(toy_run(aligned_manifest, ToyTextEngine))
    note = "word timestamps not measured: toy_text gives no word timings"
    assert run_lines(untimed, judge_run(untimed)).count(f"  {note}") == 1
    record = run_record(untimed, judge_run(untimed))
    assert record.timestamps == {"not_measured": note}
    assert note in render([record])

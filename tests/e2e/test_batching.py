"""Batched accuracy passes: several cases decoded at once, their own identity and baselines."""

from __future__ import annotations

import json

from pytest_speechlab.core.metrics import score
from pytest_speechlab.io.audio import load_audio

from ..projects import Project, bundled_cases


def test_transcribe_many_gives_each_case_its_own_transcript():
    from pytest_speechlab.engines.faster_whisper import FasterWhisperEngine

    engine = FasterWhisperEngine.load(None, "cpu", {**FasterWhisperEngine.default_options, "batch_size": 4})
    by_id = {c.id: c for c in bundled_cases()}
    cases = [by_id[i] for i in ("cards_001", "jfk", "goforward", "librivox_0870", "spontaneous_cold")]
    texts = engine.transcribe_many([load_audio(c.audio, 16000) for c in cases], "en")
    assert len(texts) == len(cases)
    for case, text in zip(cases, texts, strict=True):  # each transcript is of its own case
        assert score(case.text, text).wer < 0.3, (case.id, text)
    assert engine.identity.options["batch_size"] == 4  # batched transcripts get their own baselines


def test_a_batched_run_measures_every_case_and_says_it_is_another_model(project: Project, recorded):
    recorded(project)
    out = project.path / "batched.json"
    result = project.run("--speech-option=faster_whisper.batch_size=2", f"--speech-results={out}")
    data = json.loads(out.read_text())
    assert [c["id"] for c in data["cases"]] == [c["id"] for c in project.cases]
    assert data["identity"]["options"]["batch_size"] == 2
    result.stdout.fnmatch_lines(
        ["  model differs from the baseline's: option batch_size: 1 in the baseline, 2 in this run"]
    )

"""Speech-to-text accuracy and latency against the stored baselines.

Run with ``pytest --speech-model=faster_whisper``; every test is parametrised by model, device
and manifest case, e.g. ``test_wer[faster_whisper-cpu-jfk]``. Over the whole corpus: its WER,
CER and latency, each slice of it (tag, speaker, language, duration, sample rate), and what the
model writes over non-speech (new phrases, repetition loops, empty outputs).
"""

import pytest

from pytest_speechlab import (
    assert_cer_within_baseline,
    assert_corpus_within_baseline,
    assert_latency_within_baseline,
    assert_no_new_hallucinations,
    assert_slices_within_baseline,
    assert_wer_within_baseline,
)


def test_wer(speech_result):
    assert_wer_within_baseline(speech_result)


def test_cer(speech_result):
    assert_cer_within_baseline(speech_result)


@pytest.mark.speech_latency
def test_latency(speech_latency):
    assert_latency_within_baseline(speech_latency)


def test_corpus(speech_corpus):
    assert_corpus_within_baseline(speech_corpus)


def test_slices(speech_corpus):
    assert_slices_within_baseline(speech_corpus)


def test_hallucination(speech_corpus):
    assert_no_new_hallucinations(speech_corpus)

"""Text-to-speech: the health of the synthesised audio against the stored baselines.

Run with ``pytest --speech-model=piper`` (or ``espeak``); each case's reference text is
synthesised once, and the ``latency`` cases are timed repeatedly. The intelligibility round
trip has a fixed speech-to-text judge (``--speech-judge``, Faster-Whisper by default) transcribe
each utterance and gates the judge's WER against the baseline's. The voice figures (DNSMOS,
speaker similarity to the voice's reference, longest internal silence, speaking rate, pitch
jumps) are gated per utterance and, as mean and 5th percentile, over the corpus; those that need
the ``tts-quality`` extra are said to be not measured without it.
"""

import pytest

from pytest_speechlab import (
    assert_tts_intelligible,
    assert_tts_within_baseline,
    assert_voice_within_baseline,
    assert_voices_within_baseline,
)


def test_tts(speech_synthesis):
    assert_tts_within_baseline(speech_synthesis)


@pytest.mark.speech_latency
def test_tts_latency(speech_synthesis):
    assert_tts_within_baseline(speech_synthesis)


def test_tts_intelligibility(speech_intelligibility):
    assert_tts_intelligible(speech_intelligibility)


def test_tts_quality(speech_voice):
    assert_voice_within_baseline(speech_voice)


def test_tts_quality_corpus(speech_voices):
    assert_voices_within_baseline(speech_voices)

"""Text-to-speech: the health of the synthesised audio against the stored baselines.

Run with ``pytest --speech-model=piper`` (or ``espeak``); each case's reference text is
synthesised once, and the ``latency`` cases are timed repeatedly.
"""

import pytest

from pytest_speechlab import assert_tts_within_baseline


def test_tts(speech_synthesis):
    assert_tts_within_baseline(speech_synthesis)


@pytest.mark.speech_latency
def test_tts_latency(speech_synthesis):
    assert_tts_within_baseline(speech_synthesis)

"""Speed, timed by pytest-benchmark: model load, per-case latency, batched throughput and text
to speech time to first audio.

The latency-subset cases are timed ``--speech-repeats`` rounds after a warm-up round. Compare
with an earlier run through pytest-benchmark's storage (``--benchmark-autosave``, then
``--benchmark-compare --benchmark-compare-fail=median:25%``); ``--benchmark-skip`` leaves
this module out. The figures also go into the results JSON (``benchmarks``), with throughput
as RTFx (audio seconds per second).
"""

import pytest

from pytest_speechlab import normalize, score
from pytest_speechlab.measure.run import latency_subset
from pytest_speechlab.measure.speed import (
    bench_batched,
    bench_first_audio,
    bench_load,
    bench_transcribe,
    long_recording,
)

pytestmark = pytest.mark.speech_speed


def test_load_speed(benchmark, speech_model):
    figures = bench_load(benchmark, speech_model)
    assert not figures or figures["rounds"] == 3


@pytest.mark.speech_latency
def test_transcribe_speed(benchmark, speech_model, speech_case):
    text = bench_transcribe(benchmark, speech_model, speech_case)
    # the timed runs did the real work: the same transcript as the accuracy pass
    assert normalize(text) == speech_model.measure(speech_case).score.hypothesis


@pytest.mark.parametrize("batch_size", [1, 4, 8])
def test_batched_throughput(benchmark, speech_model, batch_size):
    if not hasattr(speech_model.engine, "transcribe_batched"):
        pytest.skip(f"{speech_model.name} has no batched pipeline")
    cases = latency_subset(speech_model.cases, speech_model.settings)
    if not any(c.text.strip() for c in cases):
        pytest.skip("the latency subset has no speech to transcribe in batches")
    audio, reference = long_recording(speech_model, cases)
    language = cases[0].language if cases else None
    text = bench_batched(benchmark, speech_model, audio, language, batch_size)
    # batching trades no accuracy for speed: the joined cases stay as well recognised as alone
    alone = [speech_model.measure(c).score for c in cases if c.text.strip()]
    errors = sum(s.substitutions + s.deletions + s.insertions for s in alone)
    words = sum(s.reference_words for s in alone)
    assert score(reference, text).wer <= errors / words + speech_model.settings.tolerances.wer


@pytest.mark.speech_task("tts")
@pytest.mark.speech_latency
def test_time_to_first_audio(benchmark, speech_model, speech_case):
    chunk = bench_first_audio(benchmark, speech_model, speech_case)
    assert len(chunk) > 0.1 * speech_model.engine.output_sample_rate  # a tenth of a second of audio

"""Audio at any common rate, channel count and sample format decodes to the same 16 kHz signal."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from pytest_speechlab.core.signal import resample

from ..projects import speech_clip
from ..unit.test_audio import variant


@pytest.fixture(scope="module")
def speech() -> tuple[np.ndarray, int]:
    return speech_clip()


def test_formats_transcribe_alike_and_rates_are_recorded(project, speech):
    """The real engine hears the same words whatever the container, rate or channel count."""
    audio = project.path / "data" / "audio"
    cases = []
    for rate, (fmt, subtype), channels in [
        (8000, ("WAV", "PCM_16"), 1),
        (22050, ("WAV", "PCM_24"), 2),
        (44100, ("FLAC", "PCM_16"), 1),
        (48000, ("WAV", "FLOAT"), 2),
    ]:
        path = variant(speech, audio, rate, fmt, subtype, channels)
        cases.append({"id": path.stem, "audio": f"audio/{path.name}", "text": project.cases[0]["text"]})
    project.manifest.write_text(yaml.safe_dump({"cases": cases}))
    out = project.path / "results.json"
    project.run("--speech-new-cases=pass", f"--speech-results={out}", "-k", "test_wer")
    data = json.loads(out.read_text())
    assert {(c["sample_rate"], c["channels"]) for c in data["cases"]} == {
        (8000, 1),
        (22050, 2),
        (44100, 1),
        (48000, 2),
    }
    # tiny.en is sensitive to tiny signal differences; every variant must still be heard right
    assert all(c["wer"] <= 0.25 for c in data["cases"]), [(c["id"], c["hypothesis"]) for c in data["cases"]]


@pytest.mark.full
@pytest.mark.parametrize(
    ("orig", "target"), [(48000, 16000), (22050, 16000), (8000, 16000), (16000, 11025), (17600.0, 16000)]
)
def test_resampling_is_exactly_librosas(orig, target):
    """The resampler is what librosa.resample computes by default (soxr high quality, then the
    length fixed), so moving off librosa changed no sample any baseline was recorded from."""
    librosa = pytest.importorskip("librosa")
    rng = np.random.default_rng(int(orig))
    for n in (1, 2, 1000, 48001):
        samples = rng.standard_normal(n).astype(np.float32)
        ours = resample(samples, orig, target)
        np.testing.assert_array_equal(ours, librosa.resample(samples, orig_sr=orig, target_sr=target))
        assert ours.dtype == np.float32

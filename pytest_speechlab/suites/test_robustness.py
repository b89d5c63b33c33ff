"""Robustness: the model's WER on perturbed copies of the clean audio.

Metamorphic tests need no new references: noise, gain, resampling, a speed change, clipping,
silence padding or a telephone channel may cost at most ``robustness_tolerance`` WER over the
same case's clean WER. Perturbations are drawn by the plugin's hypothesis strategies under the
``speechlab-robustness`` profile: few and fixed in CI (``--speech-robustness-examples=ci``),
many and random locally (``wide``). A fixed noise sweep is stored in the baseline and gated like
the clean WER, which also gives the report its WER-vs-SNR curve. Only cases tagged
``robustness`` in the manifest run here.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_speechlab import assert_robust, assert_sweep_within_baseline
from pytest_speechlab.core import strategies
from pytest_speechlab.core.perturb import noise_sweep

PERTURBATIONS = {
    "noise": strategies.noise(min_snr_db=10, max_snr_db=30),
    "gain": strategies.gains(min_db=-20, max_db=6),
    "resample": strategies.resampling((8000, 11025, 22050)),
    "speed": strategies.speeds(min_factor=0.9, max_factor=1.1),
    "clipping": strategies.clipping(min_level=0.3, max_level=0.9),
    "padding": strategies.padding(max_s=2.0),
    "telephone": strategies.telephone(),
}


@pytest.mark.speech_robustness
@pytest.mark.parametrize("kind", PERTURBATIONS)
@settings(settings.get_profile(strategies.PROFILE))
@given(data=st.data())
def test_robustness(speech_model, speech_case, kind, data):
    perturbation = data.draw(PERTURBATIONS[kind], label="perturbation")
    assert_robust(speech_model.measure_perturbed(speech_case, perturbation))


@pytest.mark.speech_robustness
@pytest.mark.parametrize("perturbation", noise_sweep((30, 20, 10, 5, 0)), ids=lambda p: p.id)
def test_noise_sweep(speech_model, speech_case, perturbation):
    assert_sweep_within_baseline(speech_model.measure_perturbed(speech_case, perturbation, record=True))

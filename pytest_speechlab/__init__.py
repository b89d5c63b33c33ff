"""pytest-speechlab: regression tests and benchmarks for speech models, as a pytest plugin.

The public API is small: the assertions tests call, and the pieces a test may want to use on
its own (manifest loading, audio decoding, scoring).
"""

from .core.audio import load_audio
from .core.manifest import Case, load_manifest
from .core.metrics import normalize, score
from .core.perturb import Perturbation
from .errors import SpeechlabError
from .gate.assertions import (
    assert_cer_within_baseline,
    assert_corpus_within_baseline,
    assert_latency_within_baseline,
    assert_robust,
    assert_sweep_within_baseline,
    assert_tts_intelligible,
    assert_tts_within_baseline,
    assert_wer_within_baseline,
)

__version__ = "0.1.0"

__all__ = [
    "Case",
    "Perturbation",
    "SpeechlabError",
    "assert_cer_within_baseline",
    "assert_corpus_within_baseline",
    "assert_latency_within_baseline",
    "assert_robust",
    "assert_sweep_within_baseline",
    "assert_tts_intelligible",
    "assert_tts_within_baseline",
    "assert_wer_within_baseline",
    "load_audio",
    "load_manifest",
    "normalize",
    "score",
]

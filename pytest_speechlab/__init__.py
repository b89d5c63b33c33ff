"""pytest-speechlab: regression tests and benchmarks for speech models, as a pytest plugin.

The public API is small: the assertions tests call, and the pieces a test may want to use on
its own (manifest loading, audio decoding, scoring, perturbations). Names are imported when first
used, so that installing the plugin costs a project that does not use it nothing.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.3.0"

_PUBLIC = {
    "Case": "core.case",
    "Perturbation": "core.perturb",
    "SpeechlabError": "errors",
    "assert_cer_within_baseline": "gate.assertions",
    "assert_corpus_within_baseline": "gate.assertions",
    "assert_latency_within_baseline": "gate.assertions",
    "assert_no_new_hallucinations": "gate.assertions",
    "assert_robust": "gate.assertions",
    "assert_slices_within_baseline": "gate.assertions",
    "assert_sweep_within_baseline": "gate.assertions",
    "assert_tts_intelligible": "gate.assertions",
    "assert_tts_within_baseline": "gate.assertions",
    "assert_voice_within_baseline": "gate.assertions",
    "assert_voices_within_baseline": "gate.assertions",
    "assert_wer_within_baseline": "gate.assertions",
    "load_audio": "io.audio",
    "load_manifest": "io.manifest",
    "noise_sweep": "core.perturb",
    "normalize": "core.metrics",
    "score": "core.metrics",
}
__all__ = [
    "Case",
    "Perturbation",
    "SpeechlabError",
    "assert_cer_within_baseline",
    "assert_corpus_within_baseline",
    "assert_latency_within_baseline",
    "assert_no_new_hallucinations",
    "assert_robust",
    "assert_slices_within_baseline",
    "assert_sweep_within_baseline",
    "assert_tts_intelligible",
    "assert_tts_within_baseline",
    "assert_voice_within_baseline",
    "assert_voices_within_baseline",
    "assert_wer_within_baseline",
    "load_audio",
    "load_manifest",
    "noise_sweep",
    "normalize",
    "score",
]

if TYPE_CHECKING:
    from .core.case import Case
    from .core.metrics import normalize, score
    from .core.perturb import Perturbation, noise_sweep
    from .errors import SpeechlabError
    from .gate.assertions import (
        assert_cer_within_baseline,
        assert_corpus_within_baseline,
        assert_latency_within_baseline,
        assert_no_new_hallucinations,
        assert_robust,
        assert_slices_within_baseline,
        assert_sweep_within_baseline,
        assert_tts_intelligible,
        assert_tts_within_baseline,
        assert_voice_within_baseline,
        assert_voices_within_baseline,
        assert_wer_within_baseline,
    )
    from .io.audio import load_audio
    from .io.manifest import load_manifest


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'pytest_speechlab' has no attribute {name!r}")
    value = getattr(import_module(f".{_PUBLIC[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])

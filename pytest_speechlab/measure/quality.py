"""The voice figures of a synthesis (``measure.voice_models``): DNSMOS, speaker similarity against the
voice's reference, and the artifacts a listener would notice. Measured once per utterance, kept on
the result as plain data (``SynthesisResult.quality``), and recorded in the baseline's ``tts``
entries; their spread over the corpus (mean and 5th percentile) in its corpus entry.

All but the longest silence and the speaking rate need the ``tts-quality`` extra; a figure whose
packages are missing is left out with the reason (``not_measured``), and its check says so
rather than failing.

The voice's reference, against which every utterance's speaker similarity is measured: the one
the baseline recorded (the embedding of the voice when it was recorded), so that a voice that
drifts as a whole is caught; for a new recording, a selected case tagged ``voice_reference``
(its audio file is a recording of the voice), else the run's first synthesised utterance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

import numpy as np

from ..core.case import Case
from ..errors import SpeechlabError
from . import voice_models
from .results import SynthesisResult
from .run import ModelRun

NOT_MEASURED = "not measured (install pytest-speechlab[tts-quality])"
REFERENCE_TAG = "voice_reference"
DNSMOS = ("sig", "bak", "ovrl", "p808")
EMBEDDING_DIGITS = 5
QUALITY_KEYS = ("dnsmos", "similarity", "longest_silence_s", "words_per_s", "pitch")  # in a tts entry


@dataclass(frozen=True)
class Reference:
    """What the speaker similarity of a run is measured against."""

    name: str  # what it is, for results and messages
    embedding: np.ndarray | None  # None where the speaker encoder cannot load
    reason: str = ""  # why there is no embedding

    def as_entry(self) -> dict[str, Any] | None:
        """The baseline's record of the voice (None without an embedding)."""
        if self.embedding is None:
            return None
        return {
            "reference": self.name,
            "embedding": [round(float(v), EMBEDDING_DIGITS) for v in self.embedding],
        }


_REFERENCES: WeakKeyDictionary[ModelRun, Reference] = WeakKeyDictionary()


def _try(work: Callable[[], Any]) -> tuple[Any, str]:
    """``work()``, or None and why where a package of the tts-quality extra is missing."""
    try:
        return work(), ""
    except (ImportError, SpeechlabError) as exc:
        return None, str(exc)


def _embedding(samples: np.ndarray, rate: int) -> tuple[np.ndarray | None, str]:
    return _try(lambda: voice_models.speaker_embedding(samples, rate))


def stored_voice(run: ModelRun) -> dict[str, Any] | None:
    baseline = run.against.baseline
    stored = ((baseline.corpus if baseline else {}).get("tts_quality") or {}).get("voice")
    return stored if isinstance(stored, dict) and stored.get("embedding") else None


def reference(run: ModelRun) -> Reference:
    """The run's voice reference (see the module's docstring), made once per run. An update over
    the whole manifest takes a new one; an update of some tags keeps the recorded one."""
    if run in _REFERENCES:
        return _REFERENCES[run]
    stored = stored_voice(run)
    fresh = run.against.update and not run.settings.tags
    if stored and not fresh:
        found = Reference(
            str(stored.get("reference", "baseline")), np.asarray(stored["embedding"], dtype=float)
        )
    else:
        clip = next((c for c in run.cases if REFERENCE_TAG in c.tags), None)
        if clip is not None:
            embedding, why = _embedding(run.audio.get(clip, voice_models.RATE), voice_models.RATE)
            found = Reference(f"{clip.id} (recording)", embedding, why)
        else:
            first = next(c for c in run.cases if c.text.strip())
            # apart from the run's results: an xdist worker that is not sent this case must not
            # report it as measured (its figures and the judge's hearing are the other worker's)
            engine: Any = run.engine
            audio = engine.synthesize(first.text, first.language)
            embedding, why = _embedding(audio, engine.output_sample_rate)
            found = Reference(f"{first.id} (first utterance)", embedding, why)
    _REFERENCES[run] = found
    return found


def figures(text: str, samples: np.ndarray, rate: int, against: Reference) -> dict[str, Any]:
    """The voice figures of one utterance of ``text``, rounded as baselines store them."""
    out: dict[str, Any] = {
        "longest_silence_s": round(voice_models.longest_silence(samples, rate), 3),
        "words_per_s": round(voice_models.speaking_rate(text, samples, rate), 3),
    }
    missing: dict[str, str] = {}
    scores, why = _try(lambda: voice_models.dnsmos(samples, rate))
    if scores is not None:
        out["dnsmos"] = scores.as_dict()
    else:
        missing["dnsmos"] = why
    embedding, why = _embedding(samples, rate) if against.embedding is not None else (None, against.reason)
    if embedding is not None and against.embedding is not None:
        out["similarity"] = round(voice_models.similarity(embedding, against.embedding), 4)
        out["reference"] = against.name
    else:
        missing["similarity"] = why
    contour, why = _try(lambda: voice_models.pitch(samples, rate))
    if contour is not None:
        out["pitch"] = contour.as_dict()
    else:
        missing["pitch"] = why
    if missing:
        out["not_measured"] = missing
    return out


def measure_voice(run: ModelRun, case: Case) -> SynthesisResult:
    """Synthesise ``case`` (cached) and measure its voice figures, once."""
    result = run.synthesize(case)
    if result.quality is None:
        result.quality = figures(case.text, result.audio, result.sample_rate, reference(run))
    return result


def spoken(run: ModelRun) -> list[Case]:
    """The cases a text-to-speech run speaks: those with a text."""
    return [c for c in run.cases if c.text.strip()]


def measured_voices(run: ModelRun) -> list[SynthesisResult] | None:
    """The syntheses of every spoken case with their voice figures, if all were measured; never
    measures."""
    cases = spoken(run)
    results = [run.syntheses.get(c.id) for c in cases]
    done = [r for r in results if r is not None and r.quality is not None]
    return done if cases and len(done) == len(cases) else None


def corpus_figures(results: Sequence[SynthesisResult]) -> dict[str, Any]:
    """Mean and 5th percentile over the utterances of each DNSMOS score and of the similarity,
    over the utterances where it was measured; absent where it never was."""
    out: dict[str, Any] = {"utterances": len(results)}
    for key in DNSMOS:
        values = [r.quality["dnsmos"][key] for r in results if r.quality and "dnsmos" in r.quality]
        if values:
            out[f"dnsmos_{key}"] = voice_models.spread(values)
    similarity = [r.quality["similarity"] for r in results if r.quality and "similarity" in r.quality]
    if similarity:
        out["similarity"] = voice_models.spread(similarity)
    return out


def quality_entry(quality: dict[str, Any]) -> dict[str, Any]:
    """What a baseline's ``tts`` entry keeps of an utterance's voice figures."""
    return {k: quality[k] for k in QUALITY_KEYS if k in quality}

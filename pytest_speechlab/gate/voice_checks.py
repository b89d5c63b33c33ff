"""The voice gate: text-to-speech quality against the baseline, per utterance and over the corpus.

Per utterance, against its ``tts`` entry: each DNSMOS score may drop by ``dnsmos`` (MOS points),
the speaker similarity to the voice's reference by ``similarity``; the longest internal silence
may grow by ``silence`` seconds, the speaking rate move by ``duration`` (relative, either way, as
the duration), and no pitch jump may appear that was not there. Over the corpus, against its
``tts_quality`` entry: the mean and the 5th percentile of each DNSMOS score and of the similarity,
with the same tolerances. A figure the baseline holds but this run could not measure (the
``tts-quality`` extra is not installed) is not a failure: it is said to be not measured.
"""

from __future__ import annotations

import math
from typing import Any, TypeGuard

from ..core.settings import Tolerances
from ..measure.quality import DNSMOS, NOT_MEASURED
from .checks import Check

NAMES = {"dnsmos": "DNSMOS", "similarity": "speaker similarity", "pitch": "pitch"}


def _floor(metric: str, measured: float, baseline: float, tolerance: float) -> Check:
    """A figure that may not drop by more than ``tolerance``."""
    return Check(metric, measured, baseline, math.inf, f"-{tolerance:g} absolute", floor=baseline - tolerance)


def _number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def not_measured(quality: dict[str, Any], stored: dict[str, Any]) -> list[str]:
    """The figures the baseline holds that this run could not measure, one line each."""
    missing = quality.get("not_measured") or {}
    return [f"{NAMES.get(k, k)} {NOT_MEASURED}" for k in missing if k in stored]


def voice_checks(quality: dict[str, Any], stored: dict[str, Any] | None, tol: Tolerances) -> list[Check]:
    """One utterance's voice figures against its baseline ``tts`` entry; a check only where both
    have the figure."""
    stored = stored or {}
    checks = []
    now, then = quality.get("dnsmos") or {}, stored.get("dnsmos") or {}
    for key in DNSMOS:
        if _number(now.get(key)) and _number(then.get(key)):
            checks.append(_floor(f"TTS DNSMOS {key.upper()}", now[key], then[key], tol.dnsmos))
    if _number(quality.get("similarity")) and _number(stored.get("similarity")):
        checks.append(
            _floor("TTS speaker similarity", quality["similarity"], stored["similarity"], tol.similarity)
        )
    if _number(quality.get("longest_silence_s")) and _number(stored.get("longest_silence_s")):
        base = stored["longest_silence_s"]
        checks.append(
            Check("TTS longest internal silence s", quality["longest_silence_s"], base, base + tol.silence,
                  f"+{tol.silence:g} s")
        )  # fmt: skip
    if _number(quality.get("words_per_s")) and _number(stored.get("words_per_s")):
        base = stored["words_per_s"]
        checks.append(
            Check("TTS speaking rate words/s", quality["words_per_s"], base, base * (1 + tol.duration),
                  f"±{tol.duration:.0%}", floor=base * (1 - tol.duration))
        )  # fmt: skip
    jumps, before = (quality.get("pitch") or {}).get("jumps"), (stored.get("pitch") or {}).get("jumps")
    if _number(jumps) and _number(before):
        checks.append(Check("TTS pitch jumps", jumps, before, before, "none new"))
    return checks


def voice_corpus_checks(figures: dict[str, Any], stored: dict[str, Any], tol: Tolerances) -> list[Check]:
    """The corpus's mean and 5th percentile of each DNSMOS score and of the similarity against
    the baseline's ``tts_quality`` entry."""
    checks = []
    for key, label, tolerance in [
        *((f"dnsmos_{k}", f"DNSMOS {k.upper()}", tol.dnsmos) for k in DNSMOS),
        ("similarity", "speaker similarity", tol.similarity),
    ]:
        now, then = figures.get(key) or {}, stored.get(key) or {}
        for stat in ("mean", "p5"):
            if _number(now.get(stat)) and _number(then.get(stat)):
                checks.append(_floor(f"TTS corpus {label} {stat}", now[stat], then[stat], tolerance))
    return checks


def corpus_not_measured(figures: dict[str, Any], stored: dict[str, Any]) -> list[str]:
    """The corpus figures the baseline holds that this run has not, one line each."""
    keys = [*(f"dnsmos_{k}" for k in DNSMOS), "similarity"]
    missing = dict.fromkeys(
        "dnsmos" if k.startswith("dnsmos") else k for k in keys if k in stored and k not in figures
    )
    return [f"{NAMES[k]} {NOT_MEASURED}" for k in missing]

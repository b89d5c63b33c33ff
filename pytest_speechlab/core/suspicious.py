"""Suspicious cases: audio a manifest accepts that is probably not what its author meant.

A case loads when its header is readable, yet a clip cut to 0.07 s for a seven-word sentence,
a silent file, a clipped one, a lone 8 kHz file among 16 kHz ones, or the same recording under
two ids each skews every figure measured on it without an error. These rules look at facts
about each case (``Heard``), gathered by ``io.manifest_check``, and say what looks wrong, one
line a case; they judge nothing, a human decides.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# Speech runs at 2-3 words a second when read, 4-5 when fast; 6 is past any speaker, so a clip
# shorter than its words need at that pace was cut, or belongs to another text.
MAX_WORDS_PER_S = 6.0
# Recorded speech peaks well above this (the quietest bundled case peaks at -14 dBFS); below it a
# "speech" case is silence or hiss, and any transcript of it is a hallucination.
SILENT_DBFS = -50.0
# A sample at health.CLIP_LEVEL (0.999 of full scale) or beyond was cut by the converter or the
# microphone; a few touch it in loud, clean speech, but more than 1% of them is audible distortion.
MAX_CLIPPED_SHARE = 0.01
# A rate or channel count unlike the rest is a surprise only where the manifest is otherwise
# uniform: when at least this share of its cases share one format (rate and channels), the
# others are likely accidents (a phone recording among studio ones); a manifest that mixes
# formats on purpose (the bundled one exercises resampling and stereo) is left alone. At 80%, one
# case can stand out from five or more: among fewer there is no "most cases" to differ from.
UNIFORM_SHARE = 0.8


@dataclass(frozen=True)
class Heard:
    """What is known of a case's audio. The sample facts (peak, clipping, digest) are None where
    the samples were not read; ``digest`` is then of the file's bytes and span, or None."""

    case_id: str
    words: int
    duration_s: float
    sample_rate: int
    channels: int
    speech: bool = True  # False: a non-speech case (empty text or tag nonspeech)
    peak_dbfs: float | None = None
    clipped_share: float | None = None  # of samples at or beyond health.CLIP_LEVEL
    digest: str | None = None  # equal digests: the same audio


@dataclass(frozen=True)
class Finding:
    """One suspicious case (for a duplicate, the later id) and what is wrong, as one line."""

    case_id: str
    message: str


def word_count(text: str) -> int:
    """The words of a reference text: tokens with a letter or digit (a lone dash is no word)."""
    return sum(any(ch.isalnum() for ch in token) for token in text.split())


def too_short(heard: Heard) -> str | None:
    """No audio, or less than a speaker needs for the words at MAX_WORDS_PER_S."""
    if heard.duration_s <= 0:
        return f"case {heard.case_id}: no audio (0 s)"
    if not heard.speech or heard.words <= heard.duration_s * MAX_WORDS_PER_S:
        return None
    return (
        f"case {heard.case_id}: {heard.duration_s:.2f} s of audio for {heard.words} words "
        f"(at most {MAX_WORDS_PER_S:g} words/s is speech)"
    )


def silent(heard: Heard) -> str | None:
    """A speech case whose loudest sample is below SILENT_DBFS."""
    if not heard.speech or heard.peak_dbfs is None or heard.peak_dbfs >= SILENT_DBFS:
        return None
    return (
        f"case {heard.case_id}: silent, peak {heard.peak_dbfs:.0f} dBFS "
        f"(speech peaks above {SILENT_DBFS:g} dBFS)"
    )


def clipped(heard: Heard) -> str | None:
    """More than MAX_CLIPPED_SHARE of the samples at full scale."""
    if heard.clipped_share is None or heard.clipped_share <= MAX_CLIPPED_SHARE:
        return None
    return (
        f"case {heard.case_id}: clipped, {heard.clipped_share:.1%} of samples at full scale "
        f"(over {MAX_CLIPPED_SHARE:.0%} is distortion)"
    )


CASE_RULES: tuple[Callable[[Heard], str | None], ...] = (too_short, silent, clipped)


def surprises(facts: Sequence[Heard]) -> list[Finding]:
    """Cases whose rate or channel count differs from the rest of an otherwise uniform manifest."""
    if not facts:
        return []
    (fmt, count), *_ = Counter((h.sample_rate, h.channels) for h in facts).most_common(1)
    if count < UNIFORM_SHARE * len(facts):
        return []
    rate, channels = fmt
    of = f"{count} of {len(facts)} cases"
    found = []
    for h in facts:
        odd = []
        if h.sample_rate != rate:
            odd.append(f"{h.sample_rate} Hz where {of} are {rate} Hz")
        if h.channels != channels:
            odd.append(f"{h.channels} channel(s) where {of} have {channels}")
        if odd:
            found.append(Finding(h.case_id, f"case {h.case_id}: {'; '.join(odd)}"))
    return found


def duplicates(facts: Sequence[Heard]) -> list[Finding]:
    """Cases with the same audio under different ids: one recording counted twice."""
    by_digest: dict[str, list[str]] = {}
    for h in facts:
        if h.digest is not None:
            by_digest.setdefault(h.digest, []).append(h.case_id)
    found = []
    for ids in by_digest.values():
        if len(ids) > 1:
            named = f"{', '.join(ids[:-1])} and {ids[-1]}"
            found.append(Finding(ids[-1], f"cases {named}: the same audio"))
    return found


def suspicious(facts: Sequence[Heard]) -> list[Finding]:
    """Every finding over a manifest's cases, in manifest order (a case's own first, then the
    manifest-wide ones: format surprises, duplicates)."""
    order = {h.case_id: i for i, h in enumerate(facts)}
    found = [Finding(h.case_id, m) for h in facts for rule in CASE_RULES if (m := rule(h))]
    found += surprises(facts) + duplicates(facts)
    return sorted(found, key=lambda f: order.get(f.case_id, len(order)))

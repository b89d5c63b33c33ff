"""Hallucination: repetition loops, dropped utterances, and what a model says over non-speech.

Whisper-style decoders fail in a few recognisable ways, which a WER alone blurs:

* a **repetition loop**: the decoder gets stuck and repeats a phrase ("beep beep beep ...",
  "thank you. thank you. ..."), typically on long-form audio, noise or tones. A loop here is an
  n-gram (1 to ``MAX_N`` words) repeated back to back at least ``LOOP_REPEATS`` times, and more
  often than the reference repeats it. Five, because people do repeat words: the bundled
  ``spontaneous_acoustic`` reference says "words words words words" (four);
* an **empty output** on a speech case: a dropped utterance, which a model change can cause
  (a voice-activity filter, a no-speech threshold) without moving the corpus WER much;
* **phrases on non-speech**: what the model writes over silence, tones and noise. A new model
  version that starts writing "thank you for watching" over silence should say so, against the
  set of phrases its baseline wrote. A phrase is the normalised output with its loops collapsed
  to one instance, so that 112 "beep"s and 80 "beep"s are the same phrase.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_N = 8
LOOP_REPEATS = 5


@dataclass(frozen=True)
class Loop:
    """The longest back-to-back repetition of one n-gram in a text."""

    phrase: str
    n: int  # words in the phrase
    repeats: int  # times it occurs back to back
    start: int  # index of the first word of the run

    @property
    def words(self) -> int:
        return self.n * self.repeats

    def as_dict(self) -> dict[str, Any]:
        return {"phrase": self.phrase, "n": self.n, "repeats": self.repeats, "start": self.start}


def longest_repeat(text: str, max_n: int = MAX_N) -> Loop | None:
    """The n-gram repeated back to back the most words' worth (ties: the shorter n-gram), or None
    when nothing repeats. Linear in the number of words for each n."""
    words = text.split()
    best: Loop | None = None
    for n in range(1, max_n + 1):
        run = 0  # consecutive positions i where words[i] == words[i + n]
        for i in range(len(words) - n):
            run = run + 1 if words[i] == words[i + n] else 0
            repeats = run // n + 1
            if repeats >= 2 and (best is None or repeats * n > best.words):
                start = i - run + 1
                best = Loop(" ".join(words[start : start + n]), n, repeats, start)
    return best


def _repeats_of(phrase: str, text: str) -> int:
    """How many times ``phrase`` occurs back to back at most in ``text``."""
    words, target = text.split(), phrase.split()
    n, most, i = len(target), 0, 0
    while i + n <= len(words):
        k = 0
        while words[i + k * n : i + (k + 1) * n] == target:
            k += 1
        most = max(most, k)
        i += max(1, k * n)
    return most


def repetition_loop(hypothesis: str, reference: str = "", min_repeats: int = LOOP_REPEATS) -> Loop | None:
    """The hypothesis's loop, if it repeats a phrase ``min_repeats`` times or more and more often
    than the reference does; texts normalised."""
    loop = longest_repeat(hypothesis)
    if loop is None or loop.repeats < min_repeats or loop.repeats <= _repeats_of(loop.phrase, reference):
        return None
    return loop


def collapse(text: str) -> str:
    """The text with every back-to-back repetition reduced to one instance."""
    words = text.split()
    while (loop := longest_repeat(" ".join(words))) is not None:
        words = words[: loop.start + loop.n] + words[loop.start + loop.words :]
    return " ".join(words)


@dataclass(frozen=True)
class EmptyOutputs:
    """Speech cases with an empty (normalised) hypothesis."""

    cases: int
    empty: tuple[str, ...]

    @property
    def rate(self) -> float:
        return len(self.empty) / self.cases if self.cases else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"cases": self.cases, "empty": list(self.empty), "rate": round(self.rate, 6)}


def empty_outputs(texts: Mapping[str, tuple[str, str]]) -> EmptyOutputs:
    """``texts``: case id to (reference, hypothesis), normalised; non-speech cases are left out."""
    speech = {i: hyp for i, (ref, hyp) in texts.items() if ref.strip()}
    return EmptyOutputs(len(speech), tuple(i for i, hyp in speech.items() if not hyp.strip()))


def nonspeech_phrases(outputs: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """Phrase to the non-speech cases it was written on; ``outputs``: case id to normalised
    hypothesis of each non-speech case. Silence rightly transcribed as nothing gives no phrase."""
    found: dict[str, list[str]] = {}
    for case_id, text in outputs.items():
        phrase = collapse(text)
        if phrase:
            found.setdefault(phrase, []).append(case_id)
    return {phrase: tuple(ids) for phrase, ids in sorted(found.items())}


def new_phrases(phrases: Mapping[str, Iterable[str]], baseline: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """The phrases the baseline's model version never wrote, with the cases they are on now."""
    known = set(baseline)
    return {phrase: tuple(ids) for phrase, ids in phrases.items() if phrase not in known}


def describe_new_phrases(new: Mapping[str, Iterable[str]]) -> str:
    return "; ".join(f'new on non-speech: "{p}" ({", ".join(ids)})' for p, ids in new.items())

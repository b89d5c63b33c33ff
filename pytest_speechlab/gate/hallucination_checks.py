"""The hallucination gate: what a model writes where nobody spoke, and how its decoder fails.

Against the baseline: a phrase written over non-speech that the baseline's model version never
wrote, a repetition loop on a long-form or non-speech case whose stored hypothesis had none, and a
speech case whose output is now empty where it was not. Each fails; the phrases, loops and
empty-output rates are reported either way (``core.hallucination``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..core.hallucination import (
    EmptyOutputs,
    Loop,
    describe_new_phrases,
    empty_outputs,
    new_phrases,
    repetition_loop,
)
from ..measure.error_analysis import (
    is_longform,
    is_speech,
    nonspeech_outputs,
    nonspeech_phrases,
    stored_hypothesis,
)
from ..measure.results import CaseResult
from .checks import Check


@dataclass(frozen=True)
class Hallucination:
    """A run's hallucination figures beside its baseline's (``None``: the baseline has none)."""

    phrases: dict[str, tuple[str, ...]]  # phrase written over non-speech -> its cases
    baseline_phrases: tuple[str, ...] | None
    loops: dict[str, Loop]  # long-form and non-speech cases whose output loops
    baseline_loops: dict[str, Loop] | None
    empty: EmptyOutputs  # speech cases with an empty output
    baseline_empty: EmptyOutputs | None
    compared: frozenset[str] = frozenset()  # the cases with a stored hypothesis to compare with

    @property
    def new(self) -> dict[str, tuple[str, ...]]:
        return new_phrases(self.phrases, self.baseline_phrases or ())

    @property
    def gone(self) -> tuple[str, ...]:
        return tuple(p for p in self.baseline_phrases or () if p not in self.phrases)

    @property
    def new_loops(self) -> dict[str, Loop]:
        before = self.baseline_loops or {}
        return {i: lp for i, lp in self.loops.items() if i in self.compared and i not in before}

    @property
    def newly_empty(self) -> tuple[str, ...]:
        before = set(self.baseline_empty.empty) if self.baseline_empty else set()
        return tuple(i for i in self.empty.empty if i in self.compared and i not in before)

    def describe(self) -> str:
        """One line: the phrases, the loops and the empty outputs."""
        phrases = ", ".join(f'"{p}" ({", ".join(ids)})' for p, ids in self.phrases.items()) or "none"
        new = f"; {len(self.new)} new" if self.baseline_phrases is not None else ""
        loops = ", ".join(f'{i} "{lp.phrase}" x{lp.repeats}' for i, lp in self.loops.items()) or "none"
        return (
            f"phrases on non-speech: {phrases}{new}; repetition loops: {loops}; "
            f"empty outputs on speech: {len(self.empty.empty)} of {self.empty.cases}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "phrases": {p: list(ids) for p, ids in self.phrases.items()},
            "baseline_phrases": list(self.baseline_phrases) if self.baseline_phrases is not None else None,
            "new_phrases": {p: list(ids) for p, ids in self.new.items()},
            "gone_phrases": list(self.gone),
            "loops": {i: loop.as_dict() for i, loop in self.loops.items()},
            "new_loops": sorted(self.new_loops),
            "empty_outputs": self.empty.as_dict(),
            "baseline_empty_outputs": self.baseline_empty.as_dict() if self.baseline_empty else None,
            "newly_empty": list(self.newly_empty),
        }


def _loops(texts: dict[str, tuple[str, str]]) -> dict[str, Loop]:
    """Case id to its loop, of (reference, hypothesis) pairs."""
    return {i: loop for i, (ref, hyp) in texts.items() if (loop := repetition_loop(hyp, ref)) is not None}


def hallucination(results: Sequence[CaseResult], stored_phrases: Any = None) -> Hallucination:
    """The figures of ``results`` and of the baseline's stored hypotheses of the same cases (those
    it has: a new case has nothing to compare with). The baseline's phrases are those it stored
    (``stored_phrases``, the corpus's ``nonspeech_phrases``), else those of its stored non-speech
    hypotheses."""
    known = {r.case.id: h for r in results if (h := stored_hypothesis(r)) is not None}
    watched = [r for r in results if not is_speech(r) or is_longform(r.case)]
    speech = [r for r in results if is_speech(r)]
    baseline_phrases: tuple[str, ...] | None = None
    if isinstance(stored_phrases, dict):
        baseline_phrases = tuple(sorted(stored_phrases))
    elif known:
        baseline_phrases = tuple(
            nonspeech_phrases({i: known[i] for i in nonspeech_outputs(results) if i in known})
        )
    return Hallucination(
        phrases=nonspeech_phrases(nonspeech_outputs(results)),
        baseline_phrases=baseline_phrases,
        loops=_loops({r.case.id: (r.score.reference, r.score.hypothesis) for r in watched}),
        baseline_loops=_loops(
            {r.case.id: (r.score.reference, known[r.case.id]) for r in watched if r.case.id in known}
        )
        if known
        else None,
        empty=empty_outputs({r.case.id: (r.score.reference, r.score.hypothesis) for r in speech}),
        baseline_empty=empty_outputs(
            {r.case.id: (r.score.reference, known[r.case.id]) for r in speech if r.case.id in known}
        )
        if known
        else None,
        compared=frozenset(known),
    )


def _count(metric: str, found: int, note: str) -> Check:
    return Check(metric, found, 0, 0, "none", note=note)


def hallucination_checks(found: Hallucination) -> list[Check]:
    """New phrases over non-speech, new repetition loops and newly empty outputs on speech, each
    allowed none; a check is left out where the baseline has nothing to compare with."""
    checks = []
    if found.baseline_phrases is not None:
        checks.append(_count("new phrases on non-speech", len(found.new), describe_new_phrases(found.new)))
    if found.baseline_loops is not None:
        loops = found.new_loops
        note = ", ".join(f'{i}: "{loop.phrase}" x{loop.repeats}' for i, loop in loops.items())
        checks.append(_count("new repetition loops", len(loops), note))
    if found.baseline_empty is not None:
        empty = found.newly_empty
        checks.append(_count("newly empty outputs on speech", len(empty), ", ".join(empty)))
    return checks

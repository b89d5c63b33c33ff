"""Why the WER is what it is, and why it moved: error analysis in the manner of NIST's sclite and
icefall's result files, and the same against a baseline.

Every figure comes from jiwer's alignment of two normalised texts (``process_words`` and
``process_characters``); nothing here computes an edit distance of its own. Per case: hits,
substitutions, deletions and insertions of words and characters, and whether the sentence has
any error. Per run: the totals, the sentence error rate, the most frequent confusion pairs,
the words most often deleted and inserted, and per reference word how often it occurs and how
often it goes wrong. Against a baseline (the baseline's hypothesis and this run's of one case,
scored against the same reference): which reference words a case newly gets wrong, which it
fixed, which went wrong differently, which insertions came and went, and the confusion pairs
that appeared or disappeared. One pass over the cases, so thousands of cases stay cheap.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jiwer

DELETED = "*"  # how a deleted word shows in a confusion or a change, as sclite's "***"


@dataclass(frozen=True)
class Counts:
    """Hits, substitutions, deletions and insertions: of words or of characters."""

    hits: int = 0
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def reference_length(self) -> int:
        return self.hits + self.substitutions + self.deletions

    @property
    def rate(self) -> float:
        """Errors over reference length; with an empty reference, the errors (as jiwer counts)."""
        return self.errors / self.reference_length if self.reference_length else float(self.errors)

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.hits + other.hits,
            self.substitutions + other.substitutions,
            self.deletions + other.deletions,
            self.insertions + other.insertions,
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "hits": self.hits,
            "substitutions": self.substitutions,
            "deletions": self.deletions,
            "insertions": self.insertions,
        }


@dataclass(frozen=True)
class Edit:
    """One aligned word: ``ref`` is "" for an insertion, ``hyp`` is "" for a deletion.
    ``position`` is the index of the reference word (for an insertion, of the word it precedes)."""

    kind: str  # "equal", "substitute", "delete" or "insert"
    ref: str
    hyp: str
    position: int


@dataclass(frozen=True)
class CaseErrors:
    """The errors of one case: normalised texts, word and character counts, the word alignment."""

    id: str
    reference: str
    hypothesis: str
    words: Counts
    chars: Counts
    edits: tuple[Edit, ...]

    @property
    def sentence_error(self) -> bool:
        return self.words.errors > 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready; ``alignment`` pairs the words, "" on the missing side (a two-row view)."""
        return {
            "id": self.id,
            "words": self.words.as_dict(),
            "chars": self.chars.as_dict(),
            "sentence_error": self.sentence_error,
            "alignment": [[e.ref, e.hyp] for e in self.edits],
        }


def _edits(ref: list[str], hyp: list[str], chunks: Iterable[Any]) -> tuple[Edit, ...]:
    out: list[Edit] = []
    for c in chunks:
        if c.type == "insert":
            out.extend(
                Edit("insert", "", hyp[j], c.ref_start_idx) for j in range(c.hyp_start_idx, c.hyp_end_idx)
            )
        elif c.type == "delete":
            out.extend(Edit("delete", ref[i], "", i) for i in range(c.ref_start_idx, c.ref_end_idx))
        else:  # "equal" and "substitute" chunks pair words one to one
            for k in range(c.ref_end_idx - c.ref_start_idx):
                i, j = c.ref_start_idx + k, c.hyp_start_idx + k
                out.append(Edit(c.type, ref[i], hyp[j], i))
    return tuple(out)


def case_errors(case_id: str, reference: str, hypothesis: str) -> CaseErrors:
    """Align two normalised texts (jiwer) and count; an empty reference is a non-speech case."""
    words = jiwer.process_words(reference, hypothesis)
    chars = jiwer.process_characters(reference, hypothesis)
    return CaseErrors(
        id=case_id,
        reference=reference,
        hypothesis=hypothesis,
        words=Counts(words.hits, words.substitutions, words.deletions, words.insertions),
        chars=Counts(chars.hits, chars.substitutions, chars.deletions, chars.insertions),
        edits=_edits(words.references[0], words.hypotheses[0], words.alignments[0]),
    )


@dataclass(frozen=True)
class WordStat:
    """One word's figures over a run, as icefall's per-word statistics: how often it is in the
    references and hypotheses, how often it is recognised, substituted away, deleted, inserted,
    and how often another word is heard as it."""

    word: str
    in_reference: int
    in_hypothesis: int
    hits: int
    substituted: int  # reference word heard as another
    deleted: int
    inserted: int
    confused_for: int  # another reference word heard as this one

    @property
    def errors(self) -> int:
        return self.substituted + self.deleted + self.inserted + self.confused_for

    def as_dict(self) -> dict[str, Any]:
        return {
            "word": self.word,
            "in_reference": self.in_reference,
            "in_hypothesis": self.in_hypothesis,
            "hits": self.hits,
            "substituted": self.substituted,
            "deleted": self.deleted,
            "inserted": self.inserted,
            "confused_for": self.confused_for,
            "errors": self.errors,
        }


@dataclass(frozen=True)
class RunErrors:
    """A run's errors over its cases (pass the speech cases, as the corpus WER is over them)."""

    cases: int
    sentence_errors: int
    words: Counts
    chars: Counts
    confusions: tuple[tuple[str, str, int], ...]  # (reference word, heard as, count), most first
    deletions: tuple[tuple[str, int], ...]
    insertions: tuple[tuple[str, int], ...]
    word_stats: tuple[WordStat, ...]  # most errors first

    @property
    def sentence_error_rate(self) -> float:
        return self.sentence_errors / self.cases if self.cases else 0.0

    def as_dict(self, top: int = 20) -> dict[str, Any]:
        """JSON-ready, with the ``top`` entries of each list (word statistics: words with errors)."""
        return {
            "cases": self.cases,
            "sentence_errors": self.sentence_errors,
            "sentence_error_rate": round(self.sentence_error_rate, 4),
            "words": self.words.as_dict(),
            "wer": round(self.words.rate, 6),
            "chars": self.chars.as_dict(),
            "cer": round(self.chars.rate, 6),
            "confusions": [[r, h, n] for r, h, n in self.confusions[:top]],
            "deletions": [[w, n] for w, n in self.deletions[:top]],
            "insertions": [[w, n] for w, n in self.insertions[:top]],
            "word_stats": [s.as_dict() for s in self.word_stats[:top] if s.errors],
        }


def _ranked(counter: Counter[Any]) -> list[tuple[Any, int]]:
    """Most first, ties in a stable order (by key), so that outputs diff well."""
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))


def run_errors(cases: Iterable[CaseErrors]) -> RunErrors:
    """Totals and rankings over ``cases``, in one pass."""
    n = sentence_errors = 0
    words, chars = Counts(), Counts()
    kinds: dict[str, Counter[str]] = {
        k: Counter() for k in ("ref", "hyp", "equal", "sub", "del", "ins", "for")
    }
    confusions: Counter[tuple[str, str]] = Counter()
    for case in cases:
        n += 1
        sentence_errors += case.sentence_error
        words, chars = words + case.words, chars + case.chars
        for e in case.edits:
            if e.ref:
                kinds["ref"][e.ref] += 1
            if e.hyp:
                kinds["hyp"][e.hyp] += 1
            if e.kind == "equal":
                kinds["equal"][e.ref] += 1
            elif e.kind == "substitute":
                kinds["sub"][e.ref] += 1
                kinds["for"][e.hyp] += 1
                confusions[e.ref, e.hyp] += 1
            elif e.kind == "delete":
                kinds["del"][e.ref] += 1
            else:
                kinds["ins"][e.hyp] += 1
    stats = [
        WordStat(
            w,
            kinds["ref"][w],
            kinds["hyp"][w],
            kinds["equal"][w],
            kinds["sub"][w],
            kinds["del"][w],
            kinds["ins"][w],
            kinds["for"][w],
        )
        for w in kinds["ref"].keys() | kinds["hyp"].keys()
    ]
    stats.sort(key=lambda s: (-s.errors, -s.in_reference, s.word))
    return RunErrors(
        cases=n,
        sentence_errors=sentence_errors,
        words=words,
        chars=chars,
        confusions=tuple((r, h, c) for (r, h), c in _ranked(confusions)),
        deletions=tuple(_ranked(kinds["del"])),
        insertions=tuple(_ranked(kinds["ins"])),
        word_stats=tuple(stats),
    )


@dataclass(frozen=True)
class Slip:
    """A reference word whose outcome changed: ``before`` and ``after`` are what the baseline and
    this run heard at it (the word itself when right, ``DELETED`` when dropped)."""

    position: int
    word: str
    before: str
    after: str

    def as_dict(self) -> dict[str, Any]:
        return {"position": self.position, "word": self.word, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class CaseChange:
    """How one case's errors changed from the baseline's hypothesis to this run's."""

    id: str
    reference: str
    before: str  # baseline hypothesis
    after: str  # this run's hypothesis
    errors_before: int
    errors_after: int
    newly_wrong: tuple[Slip, ...]  # right in the baseline, wrong now
    fixed: tuple[Slip, ...]  # wrong in the baseline, right now
    still_wrong: tuple[Slip, ...]  # wrong in both, differently
    new_insertions: tuple[str, ...]
    gone_insertions: tuple[str, ...]
    confusions_appeared: tuple[tuple[str, str, int], ...]
    confusions_gone: tuple[tuple[str, str, int], ...]

    @property
    def changed(self) -> bool:
        return self.before != self.after

    @property
    def delta(self) -> int:
        return self.errors_after - self.errors_before

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "reference": self.reference,
            "before": self.before,
            "after": self.after,
            "errors_before": self.errors_before,
            "errors_after": self.errors_after,
            "newly_wrong": [s.as_dict() for s in self.newly_wrong],
            "fixed": [s.as_dict() for s in self.fixed],
            "still_wrong": [s.as_dict() for s in self.still_wrong],
            "new_insertions": list(self.new_insertions),
            "gone_insertions": list(self.gone_insertions),
            "confusions_appeared": [list(c) for c in self.confusions_appeared],
            "confusions_gone": [list(c) for c in self.confusions_gone],
        }


def _heard(case: CaseErrors) -> dict[int, str]:
    """What was heard at each reference position: the word itself, another, or ``DELETED``."""
    return {e.position: e.hyp or DELETED for e in case.edits if e.kind != "insert"}


def _confusions(case: CaseErrors) -> Counter[tuple[str, str]]:
    return Counter((e.ref, e.hyp) for e in case.edits if e.kind == "substitute")


def _as_triples(counter: Counter[tuple[str, str]]) -> tuple[tuple[str, str, int], ...]:
    return tuple((r, h, n) for (r, h), n in _ranked(counter))


def compare_errors(before: CaseErrors, after: CaseErrors) -> CaseChange:
    """The change between two scorings of one case against the same normalised reference."""
    if before.reference != after.reference:
        raise ValueError(f"{after.id}: the baseline was scored against another reference")
    was, now = _heard(before), _heard(after)
    words = before.reference.split()
    newly, fixed, still = [], [], []
    for i, word in enumerate(words):
        slip = Slip(i, word, was[i], now[i])
        if was[i] == now[i]:
            continue
        if was[i] == word:
            newly.append(slip)
        elif now[i] == word:
            fixed.append(slip)
        else:
            still.append(slip)
    ins_before = Counter(e.hyp for e in before.edits if e.kind == "insert")
    ins_after = Counter(e.hyp for e in after.edits if e.kind == "insert")
    conf_before, conf_after = _confusions(before), _confusions(after)
    return CaseChange(
        id=after.id,
        reference=after.reference,
        before=before.hypothesis,
        after=after.hypothesis,
        errors_before=before.words.errors,
        errors_after=after.words.errors,
        newly_wrong=tuple(newly),
        fixed=tuple(fixed),
        still_wrong=tuple(still),
        new_insertions=tuple(sorted((ins_after - ins_before).elements())),
        gone_insertions=tuple(sorted((ins_before - ins_after).elements())),
        confusions_appeared=_as_triples(conf_after - conf_before),
        confusions_gone=_as_triples(conf_before - conf_after),
    )


def case_change(case_id: str, reference: str, before: str, after: str) -> CaseChange:
    """``compare_errors`` from the normalised texts: reference, baseline and this run's hypothesis."""
    return compare_errors(case_errors(case_id, reference, before), case_errors(case_id, reference, after))


@dataclass(frozen=True)
class RunChange:
    """The corpus view of what changed: the cases that changed, worst first, and the words and
    confusion pairs summed over them."""

    cases: tuple[CaseChange, ...]
    errors_before: int
    errors_after: int
    newly_wrong: tuple[tuple[str, int], ...]  # reference words, most first
    fixed: tuple[tuple[str, int], ...]
    confusions_appeared: tuple[tuple[str, str, int], ...]
    confusions_gone: tuple[tuple[str, str, int], ...]

    @property
    def worse(self) -> int:
        return sum(c.delta > 0 for c in self.cases)

    @property
    def better(self) -> int:
        return sum(c.delta < 0 for c in self.cases)

    def as_dict(self, top: int = 20) -> dict[str, Any]:
        return {
            "changed_cases": len(self.cases),
            "worse": self.worse,
            "better": self.better,
            "errors_before": self.errors_before,
            "errors_after": self.errors_after,
            "newly_wrong": [list(w) for w in self.newly_wrong[:top]],
            "fixed": [list(w) for w in self.fixed[:top]],
            "confusions_appeared": [list(c) for c in self.confusions_appeared[:top]],
            "confusions_gone": [list(c) for c in self.confusions_gone[:top]],
            "cases": [c.as_dict() for c in self.cases],
        }


def run_change(changes: Iterable[CaseChange]) -> RunChange:
    """Sum per-case changes. Pairs are netted over the run: a pair that appeared in one case and
    went in another has not changed."""
    kept: list[CaseChange] = []
    before = after = 0
    newly: Counter[str] = Counter()
    fixed: Counter[str] = Counter()
    appeared: Counter[tuple[str, str]] = Counter()
    gone: Counter[tuple[str, str]] = Counter()
    for c in changes:
        before, after = before + c.errors_before, after + c.errors_after
        if not c.changed:
            continue
        kept.append(c)
        newly.update(s.word for s in c.newly_wrong)
        fixed.update(s.word for s in c.fixed)
        appeared.update({(r, h): n for r, h, n in c.confusions_appeared})
        gone.update({(r, h): n for r, h, n in c.confusions_gone})
    kept.sort(key=lambda c: (-c.delta, c.id))
    return RunChange(
        cases=tuple(kept),
        errors_before=before,
        errors_after=after,
        newly_wrong=tuple(_ranked(newly)),
        fixed=tuple(_ranked(fixed)),
        confusions_appeared=_as_triples(appeared - gone),
        confusions_gone=_as_triples(gone - appeared),
    )


def _slips(slips: Iterable[Slip], fixed: bool = False) -> str:
    if fixed:
        return ", ".join(f"{s.word} (was {s.before})" for s in slips)
    return ", ".join(
        f"{s.word} -> {s.after}" + (f" (was {s.before})" if s.before != s.word else "") for s in slips
    )


def _pairs(pairs: Iterable[tuple[str, str, int]]) -> str:
    return ", ".join(f"{r} -> {h}" + (f" x{n}" if n > 1 else "") for r, h, n in pairs)


def _counted(items: Iterable[tuple[str, int]]) -> str:
    return ", ".join(w + (f" x{n}" if n > 1 else "") for w, n in items)


def _labelled(rows: Iterable[tuple[str, str]]) -> list[str]:
    """Indented ``label: text`` lines, leaving out the empty ones."""
    return [f"  {label}: {text}" for label, text in rows if text]


def describe_change(change: CaseChange) -> str:
    """A few lines saying what changed in one case; shown first when the case fails."""
    lines = [f"{change.id}: word errors {change.errors_before} -> {change.errors_after} ({change.delta:+d})"]
    rows = [
        ("newly wrong", _slips(change.newly_wrong)),
        ("fixed", _slips(change.fixed, fixed=True)),
        ("wrong differently", _slips(change.still_wrong)),
        ("new insertions", ", ".join(change.new_insertions)),
        ("insertions gone", ", ".join(change.gone_insertions)),
    ]
    lines += _labelled(rows)
    width = max(len("reference"), len("baseline"), len("now"))
    lines += [
        f"  {'reference':<{width}}  {change.reference or '(empty)'}",
        f"  {'baseline':<{width}}  {change.before or '(empty)'}",
        f"  {'now':<{width}}  {change.after or '(empty)'}",
    ]
    return "\n".join(lines)


def describe_run_change(change: RunChange, top: int = 10, cases: int = 3) -> str:
    """The corpus's "what changed": counts, words and pairs, then the worst ``cases`` in full."""
    lines = [
        f"{len(change.cases)} cases changed ({change.worse} worse, {change.better} better); "
        f"word errors {change.errors_before} -> {change.errors_after} "
        f"({change.errors_after - change.errors_before:+d})"
    ]
    rows = [
        ("newly wrong words", _counted(change.newly_wrong[:top])),
        ("fixed words", _counted(change.fixed[:top])),
        ("confusions appeared", _pairs(change.confusions_appeared[:top])),
        ("confusions gone", _pairs(change.confusions_gone[:top])),
    ]
    lines += _labelled(rows)
    for c in change.cases[:cases]:
        lines += ["  " + line for line in describe_change(c).splitlines()]
    return "\n".join(lines)


def describe_errors(run: RunErrors, top: int = 10) -> str:
    """The run's totals and its top confusions, deletions and insertions, in a few lines."""
    w = run.words
    lines = [
        f"{w.errors} word errors in {w.reference_length} reference words (WER {w.rate:.4f}): "
        f"{w.substitutions} substitutions, {w.deletions} deletions, {w.insertions} insertions; "
        f"{run.sentence_errors} of {run.cases} sentences wrong ({run.sentence_error_rate:.1%})"
    ]
    rows = [
        ("top confusions", _pairs(run.confusions[:top])),
        ("most deleted", _counted(run.deletions[:top])),
        ("most inserted", _counted(run.insertions[:top])),
    ]
    lines += _labelled(rows)
    return "\n".join(lines)

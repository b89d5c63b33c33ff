"""The verdict of a run, computed once from its checks: every output (terminal, Markdown, results
file, HTML report) and the promotion gate render this one object, so they cannot disagree."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

from ..measure.quality import corpus_figures, measured_voices
from ..measure.results import CaseResult, CorpusResult, PerturbedResult, SynthesisResult
from ..measure.run import ModelRun
from ..store.baselines import Comparison
from .checks import (
    ERROR,
    FAIL,
    FAILING,
    INCONCLUSIVE,
    NEW,
    NO_CORPUS_BASELINE,
    PASS,
    STALE,
    Check,
    case_checks,
    corpus_checks,
    judge_check,
    reference_changed,
    robustness_check,
    sweep_check,
    synthesis_checks,
    worst,
)
from .hallucination_checks import Hallucination, hallucination, hallucination_checks
from .slice_checks import SliceReport, slice_checks, slice_report
from .voice_checks import corpus_not_measured, not_measured, voice_checks, voice_corpus_checks
from .what_changed import RunAnalysis, case_change, run_analysis, what_changed

UPDATED, INCOMPLETE = "UPDATED", "INCOMPLETE"
IDENTITY_FIELDS = ("engine", "model_id", "source", "revision", "compute_type")
# the order in which one part's verdict makes the whole run's
PRECEDENCE = (ERROR, FAIL, STALE, INCONCLUSIVE, NEW)
REFERENCE_CHANGED = "reference text changed since the baseline: re-record with --update-baselines"


class Judgement(Protocol):
    """What a part of the verdict says, whatever its checks are (``Part``, or a saved record)."""

    @property
    def verdict(self) -> str: ...
    @property
    def why(self) -> list[str]: ...
    @property
    def not_gated(self) -> str | None: ...
    @property
    def what_changed(self) -> list[str]: ...
    @property
    def notes(self) -> list[str]: ...


def part_json(part: Judgement, outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    """A part as the results file keeps it, beside the figures it judges: empty lists left out."""
    out: dict[str, Any] = {"verdict": part.verdict, "why": part.why}
    out |= {"outcomes": outcomes} if outcomes else {}
    out |= {"what_changed": part.what_changed} if part.what_changed else {}
    out |= {"notes": part.notes} if part.notes else {}
    return out | ({"not_gated": part.not_gated} if part.not_gated else {})


def part_fields(data: dict[str, Any]) -> tuple[str, list[str], list[Any], str | None, list[str], list[str]]:
    """``part_json``'s fields read back: verdict, why, outcomes, not gated, what changed, notes."""
    return (
        data["verdict"],
        list(data.get("why") or []),
        list(data.get("outcomes") or []),
        data.get("not_gated"),
        list(data.get("what_changed") or []),
        list(data.get("notes") or []),
    )


@dataclass(frozen=True)
class Part:
    """One judged thing (a case, a synthesis, the corpus): its verdict and the lines that say why."""

    verdict: str
    why: list[str] = field(default_factory=list)  # why it does not pass: each line a failure to read
    checks: list[Check] = field(default_factory=list)
    not_gated: str | None = None  # why it could not be compared at all (the corpus)
    what_changed: list[str] = field(default_factory=list)  # against the baseline: shown first on failure
    notes: list[str] = field(default_factory=list)  # what could not be measured: said, not failed

    def to_json(self) -> dict[str, Any]:
        return part_json(self, [c.to_json() for c in self.checks])

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Part:
        verdict, why, outcomes, not_gated, what_changed, notes = part_fields(data)
        return cls(verdict, why, [Check.from_json(c) for c in outcomes], not_gated, what_changed, notes)

    @property
    def fails(self) -> bool:
        """Whether this part fails the run: a failing outcome, or nothing to compare it with
        while new cases fail (its ``why`` then says so)."""
        return self.verdict in FAILING or (self.verdict == NEW and bool(self.why))


@dataclass(frozen=True)
class RunVerdict:
    overall: str
    cases: dict[str, Part]  # speech-to-text cases by id
    tts: dict[str, Part]  # text-to-speech cases by id
    corpus: Part | None  # None: not every selected case was measured, or no speech-to-text
    robustness: list[str]  # failing perturbed transcriptions, one line each
    identity: list[str]  # how the model differs from the one the baseline recorded
    unused: list[str]  # baseline entries whose case left the manifest
    analysis: RunAnalysis | None = None  # the measured cases' errors and what changed in them
    slices: Part | None = None  # the corpus cut by tag, speaker, language, duration and rate
    slice_report: SliceReport | None = None
    hallucination: Part | None = None  # phrases over non-speech, loops, empty outputs
    hallucination_report: Hallucination | None = None
    voice: Part | None = None  # text to speech: the voice figures over the corpus
    voice_figures: dict[str, Any] | None = None

    def runwide(self) -> dict[str, Part]:
        """The parts judged over the whole run, by name, in the order outputs show them."""
        parts = {"corpus": self.corpus, "slices": self.slices, "hallucination": self.hallucination}
        parts["voice (TTS corpus)"] = self.voice
        return {name: part for name, part in parts.items() if part is not None}

    @property
    def failures(self) -> list[str]:
        """Every part that is not a pass, one line each: what a reviewer reads first."""
        lines = [f"{case_id}: {'; '.join(p.why)}" for case_id, p in self.cases.items() if p.why]
        lines += [f"{case_id} (TTS): {'; '.join(p.why)}" for case_id, p in self.tts.items() if p.why]
        lines += [f"{name}: {line}" for name, p in self.runwide().items() for line in p.why]
        return lines + self.robustness

    def named_parts(self) -> list[tuple[str, Part]]:
        """Every judged part with where it is: a case by its id, a synthesis as "ID (TTS)", a
        run-wide part by its name."""
        tts = [(f"{case_id} (TTS)", part) for case_id, part in self.tts.items()]
        return [*self.cases.items(), *tts, *self.runwide().items()]

    def beyond_the_limit(self) -> list[str]:
        """Each figure beyond its limit that does not fail (not significant; under load), with
        why, one line each: every view shows these, never a bare "pass" beside such a figure."""
        return [
            f"{where}: {c.metric} {c.outcome}, {c.outcome_note}"
            for where, part in self.named_parts()
            for c in part.checks
            if c.outcome_note
        ]

    def not_passing(self) -> list[tuple[str, str, list[str]]]:
        """Every part that is not a pass, as (where, outcome, why): each view lists these, a
        part that is new or inconclusive as much as one that fails."""
        found = [(where, p.verdict, p.why) for where, p in self.named_parts() if p.verdict != PASS]
        robust = [line.partition(": ") for line in self.robustness]
        return found + [(where, FAIL, [why]) for where, _, why in robust]

    @property
    def fails(self) -> bool:
        """Whether the run fails the gate: its exit status, every view and the promotion read this."""
        parts = [part for _, part in self.named_parts()]
        return self.overall in FAILING or bool(self.robustness) or any(p.fails for p in parts)

    def what_changed(self) -> list[str]:
        """The run's "what changed" against its baseline; none when no transcript changed."""
        return self.analysis.what_changed() if self.analysis else []

    def counts(self) -> dict[str, int]:
        counted: dict[str, int] = {}
        for part in [*self.cases.values(), *self.tts.values()]:
            counted[part.verdict] = counted.get(part.verdict, 0) + 1
        return dict(sorted(counted.items()))

    def as_json(self) -> dict[str, Any]:
        return {
            "overall": self.overall,
            "counts": self.counts(),
            "corpus": self.corpus.verdict if self.corpus else None,
            "parts": {name: part.verdict for name, part in self.runwide().items()},
            "failures": self.failures,
            "what_changed": self.what_changed(),
            "notes": [line for part in self.runwide().values() for line in part.notes],
            "beyond_the_limit": self.beyond_the_limit(),
            "not_gated": {name: part.not_gated for name, part in self.runwide().items() if part.not_gated},
            "identity_differences": self.identity,
            "unused_baseline_entries": self.unused,
        }


# A baseline that does not say which model recorded it is compared, with this said where the
# differences are: a promotion waits until it is re-recorded (and so says which model it was).
NO_IDENTITY = "the baseline records no model identity: it may have been recorded under any model"


def identity_differences(
    stored: dict[str, Any] | None,
    current: dict[str, Any] | None,
    names: tuple[str, str] = ("the baseline", "this run"),
) -> list[str]:
    """One line per field in which this run's model differs from the baseline's (or, with
    ``names``, one run's from another's)."""
    if not stored or not current:
        return []
    first, second = names
    lines = [
        f"{key}: {stored.get(key)!r} in {first}, {current.get(key)!r} in {second}"
        for key in IDENTITY_FIELDS
        if stored.get(key) != current.get(key)
    ]
    before, after = stored.get("options") or {}, current.get("options") or {}
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            lines.append(f"option {key}: {before.get(key)!r} in {first}, {after.get(key)!r} in {second}")
    return lines


def _no_baseline(against: Comparison) -> list[str]:
    """Why a part with no baseline does not pass: only where new cases fail and nothing is recorded."""
    return (
        [f"no baseline in {against.path.name}"] if against.new_cases == "fail" and not against.update else []
    )


CASE_METRICS = ("wer", "cer", "latency_ms", "timestamps")


def case_part(result: CaseResult, metrics: tuple[str, ...] = CASE_METRICS) -> Part:
    """A transcribed case's verdict: the run's over all its metrics, a test's over its own (the
    assertions raise from this part, so that no rule is decided twice)."""
    against = result.against
    entry = result.stored
    if entry is None:
        return Part(NEW, _no_baseline(against))
    if reference_changed(result.case.text, entry):
        return Part(STALE, [REFERENCE_CHANGED])
    checks = case_checks(result, entry, against.tolerances, metrics)
    verdict = worst([c.outcome for c in checks])
    changed = what_changed(case_change(result))
    return Part(verdict, [c.describe() for c in checks if not c.passed], checks, what_changed=changed)


SYNTHESIS_ASPECTS = ("health", "judge", "voice")


def synthesis_part(result: SynthesisResult, aspects: tuple[str, ...] = SYNTHESIS_ASPECTS) -> Part:
    """A synthesised case's verdict: the run's over its health and latency, the judge's WER and
    the voice figures; a test's over its own aspects. A figure measured here that the baseline
    lacks (a judge WER, voice figures) makes it NEW, as a case with no baseline entry is."""
    against = result.against
    baseline, entry = against.baseline, result.stored
    if baseline is None or entry is None:  # an entry is the baseline's: never one without the other
        return Part(NEW, _no_baseline(against))
    if reference_changed(result.case.text, against.entry(result.case.id)):  # the case's, not its tts entry
        return Part(STALE, [REFERENCE_CHANGED])
    checks = synthesis_checks(result, entry, against.tolerances) if "health" in aspects else []
    notes, unbased = [], []
    if "judge" in aspects and result.judge_score is not None:
        judge, not_comparable = judge_check(result, baseline.meta.get("judge"), against.tolerances)
        if not_comparable:
            return Part(STALE, [f"{not_comparable}: re-record with --update-baselines"])
        checks += [judge] if judge else []
        unbased += [] if judge else ["judge WER"]
    if "voice" in aspects and result.quality is not None:
        voice = voice_checks(result.quality, entry, against.tolerances)
        notes = not_measured(result.quality, entry)
        checks += voice
        unbased += [] if voice or notes else ["voice figures"]
    verdict = worst([c.outcome for c in checks])
    why = [c.describe() for c in checks if not c.passed]
    if verdict == PASS and unbased:
        verdict = NEW
        why = [f"{line}: {', '.join(unbased)}" for line in _no_baseline(against)]
    return Part(verdict, why, checks, notes=notes)


def perturbed_part(result: PerturbedResult, sweep: bool | None = None) -> Part:
    """A perturbed transcription's verdict: a recorded sweep point (``sweep``, by default
    whether it was recorded) against its baseline, NEW without one; a drawn perturbation
    against the clean WER."""
    tol = result.against.tolerances
    recorded = result.recorded if sweep is None else sweep
    entry = result.against.entry(result.case.id)
    check = sweep_check(result, entry, tol) if recorded else robustness_check(result, tol)
    if check is None:
        return Part(NEW, _no_baseline(result.against))
    return Part(check.outcome, [] if check.passed else [check.describe()], [check])


def corpus_part(
    against: Comparison, corpus: CorpusResult | None, analysis: RunAnalysis | None = None
) -> Part | None:
    """The corpus's verdict, the run's and its test's alike."""
    if corpus is None:
        return None
    changed = analysis.what_changed() if analysis else []
    baseline = against.baseline
    stored = baseline.corpus if baseline else {}
    checks, reason = corpus_checks(corpus, stored, baseline.cases if baseline else {}, against.tolerances)
    if reason and reason.endswith("re-record"):
        return Part(STALE, [f"not gated: {reason}"], not_gated=reason)
    if reason:  # a failure only where the run needs a baseline for everything it measured
        unbased = reason == NO_CORPUS_BASELINE and bool(_no_baseline(against))
        return Part(NEW, [f"not gated: {reason}"] if unbased else [], not_gated=reason, what_changed=changed)
    why = [c.describe() for c in checks if not c.passed]
    return Part(worst([c.outcome for c in checks]), why, checks, what_changed=changed)


def _gated(checks: list[Check], reason: str) -> Part:
    """A run-wide part from its checks; without any, not gated for ``reason``."""
    if not checks:
        return Part(NEW, not_gated=reason)
    return Part(worst([c.outcome for c in checks]), [c.describe() for c in checks if not c.passed], checks)


def slices_part(against: Comparison, corpus: CorpusResult) -> tuple[Part, SliceReport]:
    """Each slice of the corpus against the baseline's stored hypotheses of its cases: the run's
    part and its test's alike."""
    report = slice_report(corpus.results, against.tolerances)
    part = _gated(slice_checks(report.changes), "no stored hypotheses to compare the slices with")
    why = [c.describe() for c in report.changes if c.regressed]  # one short line a slice
    return replace(part, why=why) if part.why else part, report


def hallucination_part(against: Comparison, corpus: CorpusResult) -> tuple[Part, Hallucination]:
    """Phrases over non-speech, loops and empty outputs against the baseline's: the run's part
    and its test's alike."""
    baseline = against.baseline
    found = hallucination(corpus.results, baseline.corpus.get("nonspeech_phrases") if baseline else None)
    return _gated(hallucination_checks(found), "no stored hypotheses to compare with"), found


def voice_corpus_part(against: Comparison, voices: list[SynthesisResult]) -> tuple[Part, dict[str, Any]]:
    """The voice figures over the spoken cases against the baseline's ``tts_quality``: the
    run's part and its test's alike."""
    figures = corpus_figures(voices)
    stored = (against.baseline.corpus if against.baseline else {}).get("tts_quality") or {}
    if not stored:
        why = ["not gated: no voice figures in the baseline"] if _no_baseline(against) else []
        return Part(NEW, why, not_gated="no voice figures in the baseline"), figures
    checks = voice_corpus_checks(figures, stored, against.tolerances)
    why = [c.describe() for c in checks if not c.passed]
    notes = corpus_not_measured(figures, stored)  # with nothing measurable here, a pass said in the notes
    return Part(worst([c.outcome for c in checks]), why, checks, notes=notes), figures


def voice_part(run: ModelRun) -> tuple[Part | None, dict[str, Any] | None]:
    """The run's voice corpus part; None until every spoken case was measured."""
    voices = measured_voices(run)
    if voices is None:
        return None, None
    return voice_corpus_part(run.against, voices)


def judge_run(run: ModelRun, manifest_ids: set[str] | None = None) -> RunVerdict:
    """The verdict of one model's run on one device, from every check of what it measured."""
    against = run.against
    baseline = against.baseline
    if against.refused:
        refused = Part(STALE, [against.refused])
        return RunVerdict(STALE, {}, {}, refused, [], [], [])
    cases = {case_id: Part(ERROR, [f"error: {message}"]) for case_id, message in run.errors.items()}
    for case_id, result in run.results.items():
        cases.setdefault(case_id, case_part(result))
    tts = {case_id: synthesis_part(result) for case_id, result in run.syntheses.items()}
    measured = run.measured_corpus()
    done = [run.results[c.id] for c in run.cases if c.id in run.results]  # what changed: in any run
    analysis = run_analysis(done) if done else None
    corpus = corpus_part(against, measured, analysis)
    slices, report = slices_part(against, measured) if measured else (None, None)
    hallucinating, found = hallucination_part(against, measured) if measured else (None, None)
    voice, figures = voice_part(run)
    perturbed = {key: perturbed_part(result) for key, result in run.perturbed.items()}
    robustness = [
        f"{run.perturbed[key].case.id} (robustness): {line}" for key, p in perturbed.items() for line in p.why
    ]
    identity = run.identity
    current = asdict(identity) if identity else None
    differences = identity_differences(baseline.meta.get("identity") if baseline else None, current)
    if baseline is not None and current is not None and not baseline.meta.get("identity"):
        differences.append(NO_IDENTITY)
    unused = sorted(set(baseline.cases) - manifest_ids) if baseline and manifest_ids is not None else []
    verdicts = [p.verdict for p in [*cases.values(), *tts.values()]]
    verdicts += [p.verdict for p in (corpus, slices, hallucinating, voice) if p is not None]
    verdicts += [p.verdict for p in perturbed.values()]
    if against.update:
        overall = UPDATED
    else:
        overall = next((v for v in PRECEDENCE if v in verdicts), PASS)
        if overall == PASS and "asr" in run.engine_cls.tasks and corpus is None:
            overall = INCOMPLETE
        if overall == PASS and not (run.results or run.syntheses):
            overall = INCOMPLETE
    return RunVerdict(
        overall, cases, tts, corpus, robustness, differences, unused,
        analysis, slices, report, hallucinating, found, voice, figures,
    )  # fmt: skip

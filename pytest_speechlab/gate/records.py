"""A judged run as typed records: what each case, synthesis, perturbation and the corpus measured,
beside its part of the verdict. Made once at the end of a session (``run_record``) and read by
every view: the results file (``to_json``), the HTML report and ``speechlab compare`` (``from_json``
of a saved file), and a promotion's vetoes.

The run-wide figures of the error analysis, the slices, the hallucination report and the voice
figures are kept as their own ``as_dict`` (``RunWide.figures``): typed where they are computed,
in ``core`` and ``gate``, and only shown from here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..core.metrics import normalizer_id, scorer_id
from ..io.provenance import machine
from ..measure.error_analysis import case_errors
from ..measure.results import CaseResult, CorpusResult, PerturbedResult, SynthesisResult
from ..measure.run import ModelRun
from ..measure.word_timestamps import pooled
from ..store.atomic import shown
from .checks import Check
from .verdicts import Part, RunVerdict, part_fields, part_json, perturbed_part
from .what_changed import case_change

_PART_KEYS = ("verdict", "why", "outcomes", "what_changed", "notes", "not_gated")


@dataclass(frozen=True)
class CheckRecord:
    """One check as the views show it: its figure, outcome, why a figure beyond its limit does not
    fail (``note``) and its line. ``figures`` is the rest of ``Check.to_json`` (measured, baseline,
    limits, significance, load), from which ``check`` makes the check again; a file of schema 1
    kept only the shown fields."""

    metric: str
    outcome: str
    within: bool
    line: str
    note: str = ""
    figures: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        shown = {"metric": self.metric, "outcome": self.outcome, "within": self.within, "note": self.note}
        return {**shown, "line": self.line, **self.figures}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CheckRecord:
        named = ("metric", "outcome", "within", "line", "note")
        rest = {k: v for k, v in data.items() if k not in named}
        return cls(data["metric"], data["outcome"], data["within"], data["line"], data.get("note", ""), rest)

    def check(self) -> Check:
        return Check.from_json(self.to_json())


@dataclass(frozen=True)
class PartRecord:
    """One part of the verdict as saved: ``Part.to_json``, its checks as ``CheckRecord``."""

    verdict: str
    why: list[str] = field(default_factory=list)
    checks: list[CheckRecord] = field(default_factory=list)
    not_gated: str | None = None
    what_changed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return part_json(self, [c.to_json() for c in self.checks])

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PartRecord:
        verdict, why, outcomes, not_gated, what_changed, notes = part_fields(data)
        return cls(verdict, why, [CheckRecord.from_json(c) for c in outcomes], not_gated, what_changed, notes)

    @classmethod
    def of(cls, part: Part | None) -> PartRecord | None:
        return cls.from_json(part.to_json()) if part is not None else None


def _part_json(part: PartRecord | None) -> dict[str, Any]:
    return part.to_json() if part is not None else {"verdict": None, "why": []}


def _part_of(data: dict[str, Any]) -> PartRecord | None:
    """The part written beside a record's figures; None where the run was not judged."""
    return PartRecord.from_json(data) if data.get("verdict") is not None else None


def _outcome(part: PartRecord | None) -> str | None:
    return part.verdict if part is not None else None


@dataclass
class CaseRecord:
    """One transcribed case: its texts, scores, timing, the baseline's entry and its verdict."""

    id: str
    reference: str
    hypothesis: str
    wer: float
    cer: float
    latency_ms: dict[str, Any] = field(default_factory=dict)  # ``Timing.as_ms``: median, min, max, runs
    rtf: float | None = None  # processing seconds per second of audio
    audio: str = ""
    audio_s: float = 0.0
    sample_rate: int | None = None
    channels: int | None = None
    tags: list[str] = field(default_factory=list)
    speaker: str | None = None
    language: str | None = None
    raw_hypothesis: str = ""
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    reference_words: int = 0
    timestamps: dict[str, Any] | None = None  # word-timestamp error, if aligned
    baseline: dict[str, Any] | None = None  # the baseline entry's figures and hypothesis
    errors: dict[str, Any] = field(default_factory=dict)  # error counts and alignment
    change: dict[str, Any] | None = None  # what changed against the baseline's hypothesis
    loop: dict[str, Any] | None = None  # a repetition loop found in the hypothesis
    part: PartRecord | None = None

    @property
    def verdict(self) -> str | None:
        return _outcome(self.part)

    @property
    def median_ms(self) -> float | None:
        value = self.latency_ms.get("median")
        return float(value) if isinstance(value, int | float) else None

    def to_json(self) -> dict[str, Any]:
        return {**_reordered(_plain(self), _CASE_ORDER), **_part_json(self.part)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CaseRecord:
        return cls(**_fields(cls, data), part=_part_of(data))


_CASE_ORDER = (
    "id audio audio_s sample_rate channels tags speaker language reference hypothesis raw_hypothesis "
    "wer cer substitutions deletions insertions reference_words latency_ms rtf timestamps baseline "
    "errors change loop"
).split()


@dataclass
class SynthesisRecord:
    """One synthesised case: its health figures, timing, what the judge heard, its voice figures."""

    id: str
    text: str
    health: dict[str, float] = field(default_factory=dict)  # core.health: duration, levels, silences
    sample_rate: int | None = None
    latency_ms: dict[str, Any] = field(default_factory=dict)
    rtf: float | None = None
    judge: str | None = None
    judge_hypothesis: str | None = None
    judge_wer: float | None = None
    quality: dict[str, Any] | None = None
    baseline: dict[str, Any] | None = None
    part: PartRecord | None = None

    @property
    def verdict(self) -> str | None:
        return _outcome(self.part)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "sample_rate": self.sample_rate,
            **self.health,
            "latency_ms": self.latency_ms,
            "rtf": self.rtf,
            "judge": self.judge,
            "judge_hypothesis": self.judge_hypothesis,
            "judge_wer": self.judge_wer,
            "quality": self.quality,
            "baseline": self.baseline,
            **_part_json(self.part),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SynthesisRecord:
        named = {"id", "text", "sample_rate", "latency_ms", "rtf", "judge", "judge_hypothesis", "judge_wer"}
        named |= {"quality", "baseline", *_PART_KEYS}
        health = {k: v for k, v in data.items() if k not in named}
        return cls(**_fields(cls, data, ("health", "part")), health=health, part=_part_of(data))


@dataclass
class PerturbedRecord:
    """One perturbed transcription: a recorded sweep point judged against its baseline, a drawn
    perturbation against the clean WER (``passed`` None: nothing to judge it by)."""

    case: str
    id: str
    perturbation: dict[str, Any]  # Perturbation.as_dict: kind and parameters
    description: str
    hypothesis: str
    wer: float
    clean_wer: float
    limit: float | None = None
    passed: bool | None = None
    recorded: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"case": self.case, **self.perturbation, **_plain(self, ("case", "perturbation"))}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PerturbedRecord:
        named = {"case", "id", "description", "hypothesis", "wer", "clean_wer", "limit", "passed", "recorded"}
        perturbation = {k: v for k, v in data.items() if k not in named}
        return cls(**_fields(cls, data, ("perturbation",)), perturbation=perturbation)


@dataclass
class CorpusRecord:
    """The selected cases scored together, and the corpus part of the verdict."""

    wer: float
    cer: float
    cases: int
    audio_s: float
    latency_s: float
    rtf: float
    nonspeech_words: int = 0
    nonspeech_s: float = 0.0
    hallucination_rate: float | None = None
    checks: list[str] = field(default_factory=list)  # each check's line, as the terminal shows it
    part: PartRecord | None = None

    @property
    def verdict(self) -> str | None:
        return _outcome(self.part)

    def to_json(self) -> dict[str, Any]:
        return {**_plain(self), **_part_json(self.part)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CorpusRecord:
        return cls(**_fields(cls, data), part=_part_of(data))


@dataclass
class RunWide:
    """A run-wide part beyond the corpus (slices, hallucination, voice figures): its figures and
    its part of the verdict. Absent from the run where it was not measured."""

    figures: dict[str, Any]
    checks: list[str] = field(default_factory=list)
    part: PartRecord | None = None

    def to_json(self) -> dict[str, Any]:
        if self.part is None:
            return dict(self.figures)
        judged = {"checks": self.checks, "not_gated": self.part.not_gated}
        return {**self.figures, **judged, **self.part.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunWide:
        figures = {k: v for k, v in data.items() if k not in ("checks", *_PART_KEYS)}
        return cls(figures, list(data.get("checks") or []), _part_of(data) if "checks" in data else None)

    @classmethod
    def of(cls, figures: dict[str, Any], part: Part | None) -> RunWide:
        return cls(figures, [c.describe() for c in part.checks] if part else [], PartRecord.of(part))


@dataclass
class VerdictRecord:
    """The run's verdict as every view shows it (``RunVerdict.as_json``)."""

    overall: str
    failures: list[str] = field(default_factory=list)  # one line per part not passing
    counts: dict[str, int] = field(default_factory=dict)
    corpus: str | None = None
    parts: dict[str, str] = field(default_factory=dict)  # run-wide part to its outcome
    what_changed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    beyond_the_limit: list[str] = field(default_factory=list)
    not_gated: dict[str, str] = field(default_factory=dict)
    identity_differences: list[str] = field(default_factory=list)
    unused_baseline_entries: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return _reordered(_plain(self, ()), _VERDICT_ORDER)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VerdictRecord:
        return cls(**_fields(cls, data, ()))


_VERDICT_ORDER = (
    "overall counts corpus parts failures what_changed notes beyond_the_limit not_gated "
    "identity_differences unused_baseline_entries"
).split()


_RUN_WIDE = ("slices", "hallucination", "tts_corpus")
_RUN_TYPED = (
    "cases",
    "verdict",
    "corpus",
    "slices",
    "hallucination",
    "tts_corpus",
    "tts_cases",
    "robustness",
)


@dataclass
class RunRecord:
    """One model on one device: what produced the figures, the figures, and the verdict."""

    model: str
    device: str
    cases: list[CaseRecord]
    skipped: str | None = None
    identity: dict[str, Any] | None = None  # ModelIdentity, as a dict
    options: dict[str, Any] = field(default_factory=dict)
    normalizer: str | None = None
    scorer: str | None = None
    baseline: str | None = None  # the baseline file, relative to the project where it is in it
    load_s: float | None = None
    load_mb: float | None = None
    machine: dict[str, Any] | None = None
    cluster: dict[str, Any] | None = None  # where the accuracy pass ran, when not here (a Ray cluster)
    verdict: VerdictRecord | None = None
    corpus: CorpusRecord | None = None
    timestamps: dict[str, Any] | None = None  # pooled word-timestamp error, or why not measured
    analysis: dict[str, Any] | None = None  # error analysis and what changed, over the run
    slices: RunWide | None = None
    hallucination: RunWide | None = None
    tts_corpus: RunWide | None = None
    tts_cases: list[SynthesisRecord] = field(default_factory=list)
    robustness: list[PerturbedRecord] = field(default_factory=list)
    benchmarks: list[dict[str, Any]] = field(default_factory=list)  # pytest-benchmark's figures
    errors: dict[str, str] = field(default_factory=dict)  # case id to the engine's error

    @property
    def label(self) -> str:
        return f"{self.model} on {self.device}"

    @property
    def overall(self) -> str | None:
        return self.verdict.overall if self.verdict else None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model,
            "device": self.device,
            "skipped": self.skipped,
            "identity": self.identity,
            "options": self.options,
            "normalizer": self.normalizer,
            "scorer": self.scorer,
            "baseline": self.baseline,
            "load_s": self.load_s,
            "load_mb": self.load_mb,
            "machine": self.machine,
            **({"cluster": self.cluster} if self.cluster is not None else {}),
            "verdict": self.verdict.to_json() if self.verdict else None,
            "corpus": self.corpus.to_json() if self.corpus else None,
            "timestamps": self.timestamps,
        }
        out |= {"analysis": self.analysis} if self.analysis is not None else {}
        for name in _RUN_WIDE:
            wide: RunWide | None = getattr(self, name)
            out |= {name: wide.to_json()} if wide is not None else {}
        return out | {
            "cases": [c.to_json() for c in self.cases],
            "tts_cases": [s.to_json() for s in self.tts_cases],
            "robustness": [p.to_json() for p in self.robustness],
            "benchmarks": self.benchmarks,
            "errors": self.errors,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        """A run as ``to_json`` wrote it (the results file's current schema)."""
        wide = {k: RunWide.from_json(data[k]) if data.get(k) else None for k in _RUN_WIDE}
        return cls(
            **_fields(cls, data, _RUN_TYPED),
            cases=[CaseRecord.from_json(c) for c in data["cases"]],
            verdict=VerdictRecord.from_json(data["verdict"]) if data.get("verdict") else None,
            corpus=CorpusRecord.from_json(data["corpus"]) if data.get("corpus") else None,
            tts_cases=[SynthesisRecord.from_json(s) for s in data.get("tts_cases") or []],
            robustness=[PerturbedRecord.from_json(p) for p in data.get("robustness") or []],
            slices=wide["slices"],
            hallucination=wide["hallucination"],
            tts_corpus=wide["tts_corpus"],
        )


def _fields(cls: type, data: dict[str, Any], typed: tuple[str, ...] = ("part",)) -> dict[str, Any]:
    """The plain fields of ``cls`` that ``data`` has; the ``typed`` ones are read by their own record."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names and k not in typed}


def _plain(record: Any, leave_out: tuple[str, ...] = ("part",)) -> dict[str, Any]:
    return {f.name: getattr(record, f.name) for f in fields(record) if f.name not in leave_out}


def _reordered(data: dict[str, Any], order: list[str]) -> dict[str, Any]:
    return {k: data[k] for k in order if k in data}


# Making the records of a run, once, at the end of a session.


def _case_record(result: CaseResult, verdict: RunVerdict | None) -> CaseRecord:
    s, case = result.score, result.case
    change = verdict.analysis.changes.get(case.id) if verdict and verdict.analysis else case_change(result)
    found = verdict.hallucination_report if verdict else None
    loop = found.loops.get(case.id) if found else None
    return CaseRecord(
        id=case.id,
        audio=str(case.audio),
        audio_s=round(result.audio_s, 4),
        sample_rate=case.sample_rate,
        channels=case.channels,
        tags=list(case.tags),
        speaker=case.speaker,
        language=case.language,
        reference=s.reference,
        hypothesis=s.hypothesis,
        raw_hypothesis=result.raw_hypothesis,
        wer=s.wer,
        cer=s.cer,
        substitutions=s.substitutions,
        deletions=s.deletions,
        insertions=s.insertions,
        reference_words=s.reference_words,
        latency_ms=result.timing.as_ms(),
        rtf=result.rtf,
        timestamps=result.timestamps,
        baseline=_stored(result.stored, _STORED_CASE_KEYS),
        errors=case_errors(result).as_dict(),
        change=change.as_dict() if change else None,
        loop=loop.as_dict() if loop else None,
        part=PartRecord.of(verdict.cases.get(case.id)) if verdict else None,
    )


_STORED_CASE_KEYS = (
    "wer cer latency_ms latency_min_ms calibration_ms cpu_min_ms calibration_cpu_ms hypothesis timestamps"
).split()


def _stored(entry: dict[str, Any] | None, keys: list[str]) -> dict[str, Any] | None:
    return {k: entry[k] for k in keys if k in entry} if entry else None


def _synthesis_record(result: SynthesisResult, part: Part | None) -> SynthesisRecord:
    judged = result.judge_score
    return SynthesisRecord(
        id=result.case.id,
        text=result.case.text,
        sample_rate=result.sample_rate,
        health=dict(result.health),
        latency_ms=result.timing.as_ms(),
        rtf=result.rtf,
        judge=result.judge,
        judge_hypothesis=judged.hypothesis if judged else None,
        judge_wer=judged.wer if judged else None,
        quality=result.quality,
        baseline={k: v for k, v in (result.stored or {}).items() if k != "judge_hypothesis"} or None,
        part=PartRecord.of(part),
    )


def _perturbed_record(result: PerturbedResult) -> PerturbedRecord:
    check = next(iter(perturbed_part(result).checks), None)
    return PerturbedRecord(
        case=result.case.id,
        id=result.perturbation.id,
        perturbation=result.perturbation.as_dict(),
        description=result.perturbation.describe(),
        hypothesis=result.score.hypothesis,
        wer=result.score.wer,
        clean_wer=result.clean.score.wer,
        limit=check.limit if check else None,
        passed=check.passed if check else None,
        recorded=result.recorded,
    )


def _corpus_record(corpus: CorpusResult | None, part: Part | None) -> CorpusRecord | None:
    if corpus is None:
        return None
    return CorpusRecord(
        wer=corpus.wer,
        cer=corpus.cer,
        cases=len(corpus.results),
        audio_s=corpus.audio_s,
        latency_s=corpus.latency_s,
        rtf=corpus.rtf,
        nonspeech_words=corpus.nonspeech_words,
        nonspeech_s=round(corpus.nonspeech_s, 3),
        hallucination_rate=corpus.hallucination_rate,
        checks=[c.describe() for c in part.checks] if part else [],
        part=PartRecord.of(part),
    )


def _timestamps(run: ModelRun) -> dict[str, Any] | None:
    """The word-timestamp error pooled over the aligned cases' words, or why it was not measured."""
    if run.timestamps_note:
        return {"not_measured": run.timestamps_note}
    found = pooled(run.results.values())
    return {**found[0].as_dict(), "cases": found[1]} if found else None


def _voice_figures(run: ModelRun, verdict: RunVerdict) -> RunWide | None:
    if verdict.voice_figures is None:
        return None
    baseline = run.against.baseline
    stored = dict((baseline.corpus if baseline else {}).get("tts_quality") or {})
    stored.pop("voice", None)  # the embedding: in the baseline file
    return RunWide.of({**verdict.voice_figures, "baseline": stored or None}, verdict.voice)


def run_record(run: ModelRun, verdict: RunVerdict | None) -> RunRecord:
    """One run, judged by ``verdict`` (None for a run that was skipped), its cases in manifest
    order whichever order (or process) measured them."""
    order = [c.id for c in run.cases]
    position = {case_id: i for i, case_id in enumerate(order)}
    perturbed = sorted(run.perturbed.values(), key=lambda p: (position[p.case.id], p.perturbation.id))
    slices = verdict.slice_report if verdict else None
    found = verdict.hallucination_report if verdict else None
    return RunRecord(
        model=run.name,
        device=run.device,
        skipped=run.skip_reason,
        identity=asdict(run.identity) if run.identity else None,
        options=dict(run.options),
        normalizer=normalizer_id(),
        scorer=scorer_id(),
        baseline=shown(run.against.path),
        load_s=run.load_s,
        load_mb=run.load_mb,
        machine=machine() if run.results else None,
        verdict=VerdictRecord.from_json(verdict.as_json()) if verdict else None,
        corpus=_corpus_record(run.measured_corpus(), verdict.corpus if verdict else None),
        timestamps=_timestamps(run),
        analysis=verdict.analysis.as_dict() if verdict and verdict.analysis else None,
        slices=RunWide.of({"rows": slices.rows()}, verdict.slices) if verdict and slices else None,
        hallucination=RunWide.of(found.as_dict(), verdict.hallucination) if verdict and found else None,
        tts_corpus=_voice_figures(run, verdict) if verdict else None,
        cases=[_case_record(run.results[i], verdict) for i in order if i in run.results],
        tts_cases=[
            _synthesis_record(run.syntheses[i], verdict.tts.get(i) if verdict else None)
            for i in order
            if i in run.syntheses
        ],
        robustness=[_perturbed_record(p) for p in perturbed],
        benchmarks=list(run.benchmarks.values()),
        errors=dict(run.errors),
    )

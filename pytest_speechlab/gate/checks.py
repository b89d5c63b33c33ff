"""Comparing measurements with baselines: pure functions of what was measured, the baseline's
entry, the tolerances and the conditions of the timing.

Accuracy gates are absolute (WER may rise by ``tolerance`` points). Latency gates are relative:
the baseline's fastest run is scaled by how much slower this machine ran the calibration round
beside the timed runs than the baseline's did (never below 1: calibration only loosens a limit),
then allowed ``tolerance`` on top. Only latencies from repeated runs (the fastest) are gated. The
corpus checks of WER, CER and the latency subset's total time also need a significant change (a
paired bootstrap over cases, ``core/stats.py``) before they fail. A latency beyond its limit
while other processes competed for the CPU is *inconclusive*, not a failure, unless it is beyond
anything that competition can explain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from ..core.metrics import Timing
from ..core.settings import Tolerances
from ..core.stats import bootstrap, paired, slowdown
from ..io.calibration import LOADED_SHARE
from ..measure.results import CaseResult, CorpusResult, PerturbedResult, SynthesisResult, text_digest

PASS, FAIL, NEW, ERROR = "pass", "FAIL", "new", "ERROR"
INCONCLUSIVE = "inconclusive"  # beyond the limit while other processes competed for the CPU
STALE = "re-record"  # the baseline was recorded under something else: a reference text, a normaliser
NO_CORPUS_BASELINE = "no corpus baseline"
FAILING = frozenset({FAIL, ERROR, STALE})  # what fails a run: the exit status and every view read this

# The slowdown a loaded timing may show and still be called inconclusive: competition for a share
# s of the CPU leaves (1 - s) of it, and the threads of an engine that wait on each other lose up
# to about as much again (measured here: 1.7-4.1x slower beside two busy processes that took half
# the CPU). Beyond this, even a loaded timing fails.
SYNC_PENALTY = 2.0


@dataclass(frozen=True)
class Load:
    """The CPU that other processes took while a latency was timed."""

    others_cpu: float  # share of the machine's CPU capacity (0-1), during the gated run

    @property
    def loaded(self) -> bool:
        return self.others_cpu > LOADED_SHARE

    @property
    def explains(self) -> float:
        """The slowdown this much competition can cause (x1 on a quiet machine)."""
        return SYNC_PENALTY / max(1.0 - self.others_cpu, 0.05) if self.loaded else 1.0


class Significance(Protocol):
    """A test of whether a change beyond the limit is real: a paired bootstrap of the corpus
    (``stats.Change``, ``stats.Slowdown``) or of one slice, corrected for the number of slices."""

    @property
    def significant(self) -> bool: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class Judged:
    """A significance test as a record keeps it: whether the change was significant, and its line."""

    significant: bool
    line: str

    def describe(self) -> str:
        return self.line


@dataclass(frozen=True)
class Check:
    """One metric against its baseline: passes when ``floor <= measured <= limit``."""

    metric: str
    measured: float
    baseline: float
    limit: float
    tolerance: str
    floor: float = -math.inf  # a lower limit too, for figures that may not drop either
    change: Significance | None = None  # corpus WER, CER, latency and slices: paired bootstraps
    against: str = "baseline"  # what ``baseline`` is: robustness checks compare with the clean WER
    load: Load | None = None  # latency checks: how busy the machine was while timing
    note: str = ""  # what a count stands for (the new phrases, the looping cases), said after it
    cost: Check | None = None  # wall-time checks: the CPU-time check of the same runs, if measured
    retimed: int = 0  # latency checks: extra rounds timed because the first were taken under load

    @property
    def within(self) -> bool:
        return self.floor - 1e-9 <= self.measured <= self.limit + 1e-9

    @property
    def outcome(self) -> str:
        """PASS within the limit, or beyond it by a change the bootstrap cannot tell from noise;
        INCONCLUSIVE beyond it while the machine was loaded, by no more than the load explains;
        else FAIL."""
        if self.within or (self.change is not None and not self.change.significant):
            return PASS
        if self.load is not None and self.load.loaded:
            if self.cost is not None:  # wall time is not judged under load: the CPU time is
                return PASS if self.cost.passed else INCONCLUSIVE
            if self.measured <= self.limit * self.load.explains:
                return INCONCLUSIVE
        return FAIL

    @property
    def passed(self) -> bool:
        return self.outcome == PASS

    @property
    def outcome_note(self) -> str:
        """Why a figure beyond its limit does not fail: every view shows it beside the outcome,
        never a bare "pass" next to a figure over its limit."""
        if self.within or self.outcome == FAIL:
            return ""
        if self.change is not None and not self.change.significant:
            return "beyond the limit, not significant"
        if self.cost is not None:
            return "beyond the limit under load: judged by its CPU time"
        return "beyond the limit under load, by no more than the load explains"

    def to_json(self) -> dict[str, Any]:
        """The check as the results file keeps it: its outcome, why a figure beyond its limit does
        not fail (``note``), its line, and what ``from_json`` needs to make the same check again."""
        return {
            "metric": self.metric,
            "outcome": self.outcome,
            "within": self.within,
            "note": self.outcome_note,
            "line": self.describe(),
            "measured": self.measured,
            "baseline": self.baseline,
            "limit": None if self.limit == math.inf else self.limit,
            "floor": None if self.floor == -math.inf else self.floor,
            "tolerance": self.tolerance,
            "against": self.against,
            "count_note": self.note,
            "change": {"significant": self.change.significant, "line": self.change.describe()}
            if self.change is not None
            else None,
            "others_cpu": self.load.others_cpu if self.load is not None else None,
            "cost": self.cost.to_json() if self.cost is not None else None,
            "retimed": self.retimed,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Check:
        change, cost, others = data.get("change"), data.get("cost"), data.get("others_cpu")
        return cls(
            data["metric"],
            data["measured"],
            data["baseline"],
            math.inf if data["limit"] is None else data["limit"],
            data["tolerance"],
            -math.inf if data["floor"] is None else data["floor"],
            Judged(change["significant"], change["line"]) if change else None,
            data["against"],
            Load(others) if others is not None else None,
            data["count_note"],
            cls.from_json(cost) if cost else None,
            data["retimed"],
        )

    def describe(self) -> str:
        low = self.measured < self.floor - 1e-9
        verdict = "within" if self.within else ("below" if low else "exceeds")
        bound = self.floor if low or self.limit == math.inf else self.limit
        line = (
            f"{self.metric} {self.measured:.4g} {verdict} limit {bound:.4g} "
            f"({self.against} {self.baseline:.4g}, tolerance {self.tolerance})"
        )
        if not self.within:
            line += f", missed by {abs(self.measured - bound):.4g}"
        if self.change is not None:
            line += f"; {self.change.describe()}"
            if not self.within:
                line += ": significant" if self.change.significant else ": not significant, passes"
        if self.note:
            line += f"; {self.note}"
        if self.retimed:
            line += f"; re-timed {self.retimed} more round(s) under load"
        if self.load is not None and not self.within and self.load.loaded:
            share = f"other processes used {self.load.others_cpu:.0%} of the CPU while it was timed"
            if self.cost is not None:
                judged = "passes" if self.cost.passed else "does not pass"
                line += (
                    f"; wall time not judged: {share}; the CPU time, which load does not inflate, {judged}"
                )
            elif self.outcome == INCONCLUSIVE:
                line += f"; inconclusive: {share} (a slowdown up to x{self.load.explains:.1f} is within that)"
            else:
                line += f"; {share}, which explains up to x{self.load.explains:.1f}: fails all the same"
        return line


def latency_scale(calibration_s: float | None, stored_ms: float | None) -> float:
    """How much slower this machine ran the calibration round than the baseline's did, never below
    1; 1 when either is unknown. Calibration only loosens the limit: a round that happened to read
    fast here, or slow when the baseline was recorded, must not fail an unchanged model."""
    if calibration_s is None or not stored_ms:
        return 1.0
    return max(1.0, calibration_s * 1000 / float(stored_ms))


def gated_load(timing: Timing) -> Load | None:
    """The load during the fastest run, the one a latency check measures (None when unknown)."""
    if not timing.others_cpu:
        return None
    share = timing.others_cpu[int(np.argmin(timing.runs))]
    return None if share is None else Load(share)


def _absolute(metric: str, measured: float, baseline: float, tolerance: float) -> Check:
    return Check(metric, measured, baseline, baseline + tolerance, f"+{tolerance:g} absolute")


def _relative(metric: str, measured: float, baseline: float, tolerance: float, scale: float) -> Check:
    limit = baseline * scale * (1 + tolerance)
    return Check(metric, measured, baseline, limit, f"+{tolerance:.0%} after calibration x{scale:.2f}")


def cpu_check(metric: str, timing: Timing, entry: dict[str, Any], tolerance: float) -> Check | None:
    """The least CPU time of repeated runs against the baseline's, scaled by the calibration
    round's CPU time; None when either has no CPU time. Other processes do not inflate it (the
    engine's threads wait without spinning), so it is judged on a loaded machine too."""
    if "cpu_min_ms" not in entry or timing.cpu_min is None:
        return None
    scale = latency_scale(timing.calibration_cpu_min, entry.get("calibration_cpu_ms"))
    return _relative(metric, timing.cpu_min * 1000, entry["cpu_min_ms"], tolerance, scale)


def latency_checks(metric: str, timing: Timing, entry: dict[str, Any], tolerance: float) -> list[Check]:
    """The wall-time check (``latency_check``) and beside it the CPU-time check of the same runs,
    which decides for the wall time where load leaves it unjudged."""
    wall = latency_check(metric, timing, entry, tolerance)
    cost = cpu_check(metric.replace("latency", "CPU"), timing, entry, tolerance)
    if wall is None:
        return [cost] if cost else []
    return [replace(wall, cost=cost), *([cost] if cost else [])]


def latency_check(metric: str, timing: Timing, entry: dict[str, Any], tolerance: float) -> Check | None:
    """The fastest of repeated runs against the baseline's fastest, scaled by calibration, with the
    load it ran under; None when the baseline has no latency for it."""
    if "latency_min_ms" not in entry:
        return None
    scale = latency_scale(timing.calibration_min, entry.get("calibration_ms"))
    check = _relative(metric, timing.min * 1000, entry["latency_min_ms"], tolerance, scale)
    return replace(check, load=gated_load(timing), retimed=timing.retimed)


RETIME_ROUNDS = 2  # extra rounds of ``repeats`` runs, at most, for a latency timed under load


def needs_retiming(timing: Timing, entry: dict[str, Any] | None, tolerance: float, update: bool) -> bool:
    """Whether a latency is worth timing again (up to ``RETIME_ROUNDS`` more rounds): its fastest
    run was taken under load, and it is either to be recorded (a baseline must not keep a loaded
    time) or beyond its wall-time limit with no CPU time to decide (ambiguous: a slower model or a
    busy machine). Where the CPU time decides, timing again under the same load would only cost."""
    load = gated_load(timing)
    if load is None or not load.loaded or timing.retimed >= RETIME_ROUNDS:
        return False
    if update:
        return True
    # the checks' names are never shown here: mutating them changes nothing
    wall = latency_check("latency", timing, entry or {}, tolerance)  # pragma: no mutate
    cpu = cpu_check("CPU", timing, entry or {}, tolerance)  # pragma: no mutate
    return wall is not None and not wall.within and cpu is None


def reference_changed(case_text: str, entry: dict[str, Any] | None) -> bool:
    """The case's reference text is not the one its baseline entry was recorded against."""
    stored = (entry or {}).get("reference_sha256")
    return stored is not None and stored != text_digest(case_text)


def case_checks(
    result: CaseResult,
    entry: dict[str, Any] | None,
    tol: Tolerances,
    metrics: tuple[str, ...] = ("wer", "cer", "latency_ms", "timestamps"),
) -> list[Check]:
    """The checks of one transcribed case against its baseline entry (none without one)."""
    if entry is None:
        return []
    checks = []
    if "wer" in metrics and "wer" in entry:
        checks.append(_absolute("WER", result.score.wer, entry["wer"], tol.wer))
    if "cer" in metrics and "cer" in entry:
        checks.append(_absolute("CER", result.score.cer, entry["cer"], tol.cer))
    if "latency_ms" in metrics and result.repeated:
        checks += latency_checks("fastest latency ms", result.timing, entry, tol.latency)
    if "timestamps" in metrics:
        checks += timestamp_checks(result.timestamps, entry, tol.timestamp)
    return checks


TIMESTAMP_METRICS = (("start_mean_ms", "word start error mean ms"), ("end_mean_ms", "word end error mean ms"))


def timestamp_checks(measured: dict[str, Any] | None, entry: dict[str, Any], tolerance: float) -> list[Check]:
    """A case's mean word start and end errors against its baseline's, each allowed to rise by
    ``tolerance`` ms; none unless both matched words (a case heard wrong is the WER's to fail)."""
    stored = entry.get("timestamps")
    if not measured or not stored or not measured.get("matched") or not stored.get("matched"):
        return []
    return [
        Check(metric, measured[key], stored[key], stored[key] + tolerance, f"+{tolerance:g} ms")
        for key, metric in TIMESTAMP_METRICS
    ]


def corpus_not_comparable(
    corpus: CorpusResult, stored: dict[str, Any], entries: dict[str, Any]
) -> str | None:
    """Why the baseline's corpus figures cannot be compared with this corpus, or None."""
    if not stored:
        return NO_CORPUS_BASELINE
    if stored.get("case_ids_sha256") != corpus.case_ids_sha256:
        return (
            f"baseline corpus covers {stored.get('cases', '?')} cases, this run "
            f"{len(corpus.results)} different ones: not comparable"
        )
    edited = [r.case.id for r in corpus.results if reference_changed(r.case.text, entries.get(r.case.id))]
    if edited:
        shown = ", ".join(edited[:3]) + (", ..." if len(edited) > 3 else "")
        return f"{len(edited)} reference text(s) changed since the baseline ({shown}): re-record"
    return None


def corpus_checks(
    corpus: CorpusResult, stored: dict[str, Any], entries: dict[str, Any], tol: Tolerances
) -> tuple[list[Check], str | None]:
    """Corpus checks against the baseline's corpus entry and case entries, or the reason they
    cannot be compared."""
    reason = corpus_not_comparable(corpus, stored, entries)
    if reason:
        return [], reason
    checks = []
    refs = [r.score.reference for r in corpus.results]
    after = [r.score.hypothesis for r in corpus.results]
    hypotheses = all("hypothesis" in entries.get(r.case.id, {}) for r in corpus.results)
    before = [entries[r.case.id]["hypothesis"] for r in corpus.results] if hypotheses else []
    for metric, unit, measured, tolerance in (
        ("WER", "word", corpus.wer, tol.wer),
        ("CER", "char", corpus.cer, tol.cer),
    ):
        check = _absolute(f"corpus {metric}", measured, stored[metric.lower()], tolerance)
        if hypotheses:
            check = replace(check, change=bootstrap(paired(refs, before, after, unit), metric=metric))
        checks.append(check)
    wall = corpus_latency_check(corpus, entries, tol.latency)
    cost = corpus_cpu_check(corpus, entries, tol.latency)
    if wall is not None:
        checks.append(replace(wall, cost=cost))
    return checks + ([cost] if cost else []), None


def _subset_check(metric: str, timed: list[tuple[Any, Any]], tolerance: float) -> Check:
    """Total ``after`` against total ``before`` (seconds per case), with a paired bootstrap over
    cases that tells one slow case from a slower model."""
    before, after = np.array([b for b, _ in timed]), np.array([a for _, a in timed])
    check = _relative(metric, float(after.sum()), float(before.sum()), tolerance, 1.0)
    return replace(check, change=slowdown(before, after, 1.0))


def corpus_latency_check(corpus: CorpusResult, entries: dict[str, Any], tolerance: float) -> Check | None:
    """The latency subset's total fastest time, each case scaled by its own calibration, against
    the baseline's total; a paired bootstrap over cases tells one slow case from a slower model."""
    timed = [
        (r, entries[r.case.id])
        for r in corpus.results
        if r.repeated and "latency_min_ms" in entries.get(r.case.id, {})
    ]
    if not timed:
        return None
    pairs = [
        (
            e["latency_min_ms"] / 1000,
            r.timing.min / latency_scale(r.timing.calibration_min, e.get("calibration_ms")),
        )
        for r, e in timed
    ]
    check = _subset_check("latency-subset fastest s (calibrated)", pairs, tolerance)
    loads = [load.others_cpu for r, _ in timed if (load := gated_load(r.timing)) is not None]
    load = Load(float(np.median(loads))) if loads else None
    return replace(check, load=load, retimed=sum(r.timing.retimed for r, _ in timed))


def corpus_cpu_check(corpus: CorpusResult, entries: dict[str, Any], tolerance: float) -> Check | None:
    """The latency subset's total CPU time, each case scaled by its calibration round's CPU time,
    against the baseline's; judged whatever the load (``cpu_check``)."""
    pairs = [
        (
            e["cpu_min_ms"] / 1000,
            spent / latency_scale(r.timing.calibration_cpu_min, e.get("calibration_cpu_ms")),
        )
        for r in corpus.results
        if r.repeated
        and (spent := r.timing.cpu_min) is not None
        and "cpu_min_ms" in (e := entries.get(r.case.id, {}))
    ]
    if not pairs:
        return None
    return _subset_check("latency-subset CPU s (calibrated)", pairs, tolerance)


def judge_check(
    result: SynthesisResult, stored_judge: str | None, tol: Tolerances
) -> tuple[Check | None, str | None]:
    """The judge WER against the baseline's, or why it cannot be compared (None, None when the
    judge has not listened or the baseline has no judge WER for the case)."""
    entry = result.stored or {}
    if result.judge_score is None or "judge_wer" not in entry:
        return None, None
    if stored_judge != result.judge:
        return None, f"the baseline was judged by {stored_judge}, this run by {result.judge}: not comparable"
    return _absolute("TTS judge WER", result.judge_score.wer, entry["judge_wer"], tol.wer), None


def synthesis_checks(result: SynthesisResult, entry: dict[str, Any] | None, tol: Tolerances) -> list[Check]:
    """Text-to-speech health checks against the case's ``tts`` baseline entry: duration either
    way, clipping, silence padding, level and (repeated) latency."""
    if entry is None:
        return []
    h = result.health
    base = entry["duration_s"]
    checks = [
        Check("TTS duration s", h["duration_s"], base, base * (1 + tol.duration), f"±{tol.duration:.0%}",
              floor=base * (1 - tol.duration)),
        _absolute("TTS clipping", h["clipping"], entry["clipping"], 0.001),
        _absolute("TTS leading silence s", h["lead_silence_s"], entry["lead_silence_s"], tol.silence),
        _absolute("TTS trailing silence s", h["trail_silence_s"], entry["trail_silence_s"], tol.silence),
        Check("TTS RMS dBFS", h["rms_dbfs"], entry["rms_dbfs"], entry["rms_dbfs"] + 6, "±6 dB",
              floor=entry["rms_dbfs"] - 6),
    ]  # fmt: skip
    if result.repeated:
        checks += latency_checks("TTS fastest latency ms", result.timing, entry, tol.latency)
    return checks


def robustness_check(result: PerturbedResult, tol: Tolerances) -> Check:
    """Metamorphic: the WER after the perturbation against the same case's clean WER."""
    clean = result.clean.score.wer
    return Check(f"WER with {result.perturbation}", result.score.wer, clean, clean + tol.robustness,
                 f"+{tol.robustness:g}", against="clean WER")  # fmt: skip


def sweep_check(result: PerturbedResult, entry: dict[str, Any] | None, tol: Tolerances) -> Check | None:
    """The WER after a fixed perturbation against the baseline's WER after the same one."""
    stored = (entry or {}).get("robustness", {})
    if result.perturbation.id not in stored:
        return None
    return _absolute(
        f"WER with {result.perturbation}", result.score.wer, stored[result.perturbation.id], tol.wer
    )


def worst(outcomes: list[str]) -> str:
    """The verdict of several checks: any failure fails; else any inconclusive; else pass."""
    for outcome in (FAIL, INCONCLUSIVE):
        if outcome in outcomes:
            return outcome
    return PASS

"""Comparing measurements with baselines.

Accuracy gates are absolute (WER may rise by ``tolerance`` points). Latency gates are relative
and calibrated: the baseline latency is first scaled by how much slower this machine ran the
calibration workload than the baseline's machine, then allowed ``tolerance`` on top. Only
latencies from repeated runs (the fastest) are gated; single-run timings are reported only. The
corpus checks of WER and of the latency subset's total time also need a significant change (a
paired bootstrap over cases, ``stats.py``) before they fail.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..core.calibration import calibrate
from ..core.stats import Change, Slowdown, bootstrap, paired, slowdown
from ..measure.run import CaseResult, CorpusResult, ModelRun, PerturbedResult, SynthesisResult

PASS, FAIL, NEW, ERROR, UNGATED = "pass", "FAIL", "new", "ERROR", "-"


@dataclass(frozen=True)
class Check:
    """One metric against its baseline: passes when ``measured <= limit``."""

    metric: str
    measured: float
    baseline: float
    limit: float
    tolerance: str
    floor: float = float("-inf")  # a lower limit too, for figures that may not drop either
    change: Change | Slowdown | None = None  # corpus WER and latency: paired bootstraps
    against: str = "baseline"  # what ``baseline`` is: robustness checks compare with the clean WER

    @property
    def within(self) -> bool:
        return self.floor - 1e-9 <= self.measured <= self.limit + 1e-9

    @property
    def passed(self) -> bool:
        """Within the limit; or beyond it by a change the bootstrap cannot tell from noise."""
        return self.within or (self.change is not None and not self.change.significant)

    def describe(self) -> str:
        low = self.measured < self.floor - 1e-9
        verdict = "within" if self.within else ("below" if low else "exceeds")
        bound = self.floor if low else self.limit
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
        return line


def latency_scale(run: ModelRun) -> float:
    """This machine's calibration time over the baseline machine's, never below 1 (1 when unknown).

    Calibration only loosens the limit: on a shared machine the calibration itself varies (by
    up to 3x between sessions on one 2-core machine), and one that happened to read fast, or a
    baseline whose calibration read slow, would otherwise tighten the limit and fail unchanged
    code."""
    stored = (run.baseline.meta.get("machine", {}) if run.baseline else {}).get("calibration_ms")
    if not stored:
        return 1.0
    return max(1.0, calibrate() * 1000 / float(stored))


def _absolute(metric: str, measured: float, baseline: float, tolerance: float) -> Check:
    return Check(metric, measured, baseline, baseline + tolerance, f"+{tolerance:g} absolute")


def _relative(metric: str, measured: float, baseline: float, tolerance: float, scale: float) -> Check:
    limit = baseline * scale * (1 + tolerance)
    return Check(metric, measured, baseline, limit, f"+{tolerance:.0%} after calibration x{scale:.2f}")


def case_checks(result: CaseResult, metrics: tuple[str, ...] = ("wer", "cer", "latency_ms")) -> list[Check]:
    """The checks of ``result`` against its baseline entry (empty when there is none)."""
    run = result.run
    entry = run.baseline.cases.get(result.case.id) if run.baseline else None
    if entry is None:
        return []
    tol = run.settings.tolerances
    checks = []
    if "wer" in metrics and "wer" in entry:
        checks.append(_absolute("WER", result.score.wer, entry["wer"], tol.wer))
    if "cer" in metrics and "cer" in entry:
        checks.append(_absolute("CER", result.score.cer, entry["cer"], tol.cer))
    if "latency_ms" in metrics and "latency_min_ms" in entry and result.repeated:
        checks.append(
            _relative(
                "fastest latency ms",
                result.timing.min * 1000,
                entry["latency_min_ms"],
                tol.latency,
                latency_scale(run),
            )
        )
    return checks


def corpus_checks(corpus: CorpusResult) -> tuple[list[Check], str | None]:
    """Corpus checks, or the reason the baseline's corpus cannot be compared with this one."""
    run = corpus.run
    stored = run.baseline.corpus if run.baseline else {}
    if not stored:
        return [], "no corpus baseline"
    if stored.get("case_ids_sha256") != corpus.case_ids_sha256:
        return [], (
            f"baseline corpus covers {stored.get('cases', '?')} cases, this run "
            f"{len(corpus.results)} different ones: not comparable"
        )
    tol = run.settings.tolerances
    entries = run.baseline.cases if run.baseline else {}
    wer = _absolute("corpus WER", corpus.wer, stored["wer"], tol.wer)
    if all("hypothesis" in entries.get(r.case.id, {}) for r in corpus.results):
        refs = [r.score.reference for r in corpus.results]
        before = [entries[r.case.id]["hypothesis"] for r in corpus.results]
        after = [r.score.hypothesis for r in corpus.results]
        wer = replace(wer, change=bootstrap(paired(refs, before, after)))
    checks = [wer, _absolute("corpus CER", corpus.cer, stored["cer"], tol.cer)]
    timed = [
        (r, entries[r.case.id])
        for r in corpus.results
        if r.repeated and "latency_min_ms" in entries.get(r.case.id, {})
    ]
    if timed:
        after = np.array([r.timing.min for r, _ in timed])
        before = np.array([e["latency_min_ms"] / 1000 for _, e in timed])
        scale = latency_scale(run)
        check = _relative(
            "latency-subset fastest s", float(after.sum()), float(before.sum()), tol.latency, scale
        )
        checks.append(replace(check, change=slowdown(before, after, scale)))
    return checks, None


def judge_check(result: SynthesisResult) -> tuple[Check | None, str | None]:
    """The judge WER against the baseline's, or why it cannot be compared (None, None when the
    judge has not listened or the baseline has no judge WER for the case)."""
    run = result.run
    entry = result.stored or {}
    if result.judge_score is None or "judge_wer" not in entry or run.baseline is None:
        return None, None
    stored = run.baseline.meta.get("judge")
    if stored != result.judge:
        return None, f"the baseline was judged by {stored}, this run by {result.judge}: not comparable"
    tol = run.settings.tolerances.wer
    return _absolute("TTS judge WER", result.judge_score.wer, entry["judge_wer"], tol), None


def synthesis_checks(result: SynthesisResult, judged: bool = True) -> list[Check]:
    """Text-to-speech checks: duration either way, clipping, silence padding, level, latency,
    and (``judged``) the judge WER once the judge has listened."""
    run = result.run
    entry = result.stored
    if entry is None:
        return []
    tol, h = run.settings.tolerances, result.health
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
    if "latency_min_ms" in entry and result.repeated:
        checks.append(
            _relative(
                "TTS fastest latency ms",
                result.timing.min * 1000,
                entry["latency_min_ms"],
                tol.latency,
                latency_scale(run),
            )
        )
    judge, _ = judge_check(result) if judged else (None, None)
    return checks + ([judge] if judge else [])


def synthesis_verdict(result: SynthesisResult) -> str:
    checks = synthesis_checks(result)
    if not checks:
        return NEW
    return PASS if all(c.passed for c in checks) else FAIL


def verdict(result: CaseResult) -> str:
    if result.run.baseline is None or result.case.id not in result.run.baseline.cases:
        return NEW
    return PASS if all(c.passed for c in case_checks(result)) else FAIL


def robustness_check(result: PerturbedResult) -> Check:
    """Metamorphic: the WER after the perturbation against the same run's clean WER."""
    tol = result.run.settings.tolerances.robustness
    clean = result.clean.score.wer
    return Check(f"WER with {result.perturbation}", result.score.wer, clean, result.limit, f"+{tol:g}",
                 against="clean WER")  # fmt: skip


def sweep_check(result: PerturbedResult) -> Check | None:
    """The WER after a fixed perturbation against the baseline's WER after the same one."""
    run = result.run
    stored = (run.baseline.cases.get(result.case.id, {}) if run.baseline else {}).get("robustness", {})
    if result.perturbation.id not in stored:
        return None
    base = stored[result.perturbation.id]
    return _absolute(f"WER with {result.perturbation}", result.score.wer, base, run.settings.tolerances.wer)


def perturbed_check(result: PerturbedResult) -> Check | None:
    """The check that judges ``result``: a recorded sweep point against its baseline (None
    without one), a drawn perturbation against the clean WER."""
    return sweep_check(result) if result.recorded else robustness_check(result)

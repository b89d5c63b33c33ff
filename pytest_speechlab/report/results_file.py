"""The results file (``--speech-results``): everything a run measured and judged, as JSON."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ..core.metrics import normalizer_id
from ..core.provenance import machine
from ..gate.checks import corpus_checks, perturbed_check, synthesis_verdict, verdict
from ..measure.run import CaseResult, CorpusResult, ModelRun, PerturbedResult, SynthesisResult
from ..store.atomic import shown


def _case_json(result: CaseResult) -> dict[str, Any]:
    s = result.score
    return {
        "id": result.case.id,
        "audio": str(result.case.audio),
        "audio_s": round(result.audio_s, 4),
        "sample_rate": result.case.sample_rate,
        "channels": result.case.channels,
        "tags": list(result.case.tags),
        "reference": s.reference,
        "hypothesis": s.hypothesis,
        "raw_hypothesis": result.raw_hypothesis,
        "wer": s.wer,
        "cer": s.cer,
        "substitutions": s.substitutions,
        "deletions": s.deletions,
        "insertions": s.insertions,
        "reference_words": s.reference_words,
        "latency_ms": result.timing.as_ms(),
        "rtf": result.rtf,
        "baseline": _stored(result.run, result.case.id, ("wer", "cer", "latency_ms", "latency_min_ms")),
        "verdict": verdict(result),
    }


def _stored(run: ModelRun, case_id: str, keys: tuple[str, ...]) -> dict[str, Any] | None:
    entry = run.baseline.cases.get(case_id, {}) if run.baseline else {}
    return {k: entry[k] for k in keys if k in entry} or None


def _synthesis_json(result: SynthesisResult) -> dict[str, Any]:
    entry = result.stored
    judged = result.judge_score
    return {
        "id": result.case.id,
        "text": result.case.text,
        "sample_rate": result.sample_rate,
        **result.health,
        "latency_ms": result.timing.as_ms(),
        "rtf": result.rtf,
        "judge": result.judge,
        "judge_hypothesis": judged.hypothesis if judged else None,
        "judge_wer": judged.wer if judged else None,
        "baseline": {k: v for k, v in (entry or {}).items() if k != "judge_hypothesis"} or None,
        "verdict": synthesis_verdict(result),
    }


def _perturbed_json(result: PerturbedResult) -> dict[str, Any]:
    """A perturbed transcription; a recorded sweep point is judged against its baseline, a drawn
    perturbation against the clean WER (``passed`` None: no baseline to judge by)."""
    check = perturbed_check(result)
    return {
        "case": result.case.id,
        **result.perturbation.as_dict(),
        "id": result.perturbation.id,
        "description": result.perturbation.describe(),
        "hypothesis": result.score.hypothesis,
        "wer": result.score.wer,
        "clean_wer": result.clean.score.wer,
        "limit": check.limit if check else None,
        "passed": check.passed if check else None,
        "recorded": result.recorded,
    }


def _corpus_json(corpus: CorpusResult | None) -> dict[str, Any] | None:
    if corpus is None:
        return None
    checks, reason = corpus_checks(corpus)
    return {
        "wer": corpus.wer,
        "cer": corpus.cer,
        "cases": len(corpus.results),
        "audio_s": corpus.audio_s,
        "latency_s": corpus.latency_s,
        "rtf": corpus.rtf,
        "nonspeech_words": corpus.nonspeech_words,
        "nonspeech_s": round(corpus.nonspeech_s, 3),
        "hallucination_rate": corpus.hallucination_rate,
        "verdict": reason or ("pass" if all(c.passed for c in checks) else "FAIL"),
    }


def run_json(run: ModelRun) -> dict[str, Any]:
    identity = asdict(run.identity) if run.identity else None
    return {
        "model": run.name,
        "device": run.device,
        "skipped": run.skip_reason,
        "identity": identity,
        "options": dict(run.options),
        "normalizer": normalizer_id(),
        "baseline": shown(run.baseline_file),
        "load_s": run.load_s,
        "load_mb": run.load_mb,
        "machine": machine() if run.results else None,
        "corpus": _corpus_json(run.measured_corpus()),
        "cases": [_case_json(r) for r in run.results.values()],
        "tts_cases": [_synthesis_json(r) for r in run.syntheses.values()],
        "robustness": [_perturbed_json(r) for r in run.perturbed.values()],
        "benchmarks": list(run.benchmarks.values()),
        "errors": dict(run.errors),
    }


def results_document(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The results file of runs given as ``run_json``: one run object, or ``{"runs": [...]}``."""
    return runs[0] if len(runs) == 1 else {"runs": runs}

"""The results file (``--speech-results``): everything a run measured and judged, as JSON.

Beside the figures: per case its error counts, word alignment and what changed against the
baseline; per run the error analysis, every slice, the hallucination figures and the voice
figures of text to speech, each with its part of the verdict.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ..core.metrics import normalizer_id, scorer_id
from ..errors import SpeechlabError
from ..gate.verdicts import Part, RunVerdict, perturbed_part
from ..gate.what_changed import case_change
from ..io.provenance import machine
from ..measure.error_analysis import case_errors
from ..measure.results import CaseResult, CorpusResult, PerturbedResult, SynthesisResult
from ..measure.run import ModelRun
from ..measure.word_timestamps import pooled
from ..store.atomic import shown


def _case_json(result: CaseResult, verdict: RunVerdict | None) -> dict[str, Any]:
    s = result.score
    case_id = result.case.id
    part = verdict.cases.get(case_id) if verdict else None
    change = verdict.analysis.changes.get(case_id) if verdict and verdict.analysis else case_change(result)
    found = verdict.hallucination_report if verdict else None
    loop = found.loops.get(case_id) if found else None
    return {
        "id": result.case.id,
        "audio": str(result.case.audio),
        "audio_s": round(result.audio_s, 4),
        "sample_rate": result.case.sample_rate,
        "channels": result.case.channels,
        "tags": list(result.case.tags),
        "speaker": result.case.speaker,
        "language": result.case.language,
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
        "timestamps": result.timestamps,
        "baseline": _stored(
            result.stored,
            (
                "wer",
                "cer",
                "latency_ms",
                "latency_min_ms",
                "calibration_ms",
                "cpu_min_ms",
                "calibration_cpu_ms",
                "hypothesis",
                "timestamps",
            ),
        ),
        "errors": case_errors(result).as_dict(),
        "change": change.as_dict() if change else None,
        "loop": loop.as_dict() if loop else None,
        **_verdict(part),
    }


def _verdict(part: Part | None) -> dict[str, Any]:
    return part.to_json() if part is not None else {"verdict": None, "why": []}


def _stored(entry: dict[str, Any] | None, keys: tuple[str, ...]) -> dict[str, Any] | None:
    return {k: entry[k] for k in keys if k in entry} if entry else None


def _synthesis_json(result: SynthesisResult, part: Part | None) -> dict[str, Any]:
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
        "quality": result.quality,
        "baseline": {k: v for k, v in (entry or {}).items() if k != "judge_hypothesis"} or None,
        **_verdict(part),
    }


def _perturbed_json(result: PerturbedResult) -> dict[str, Any]:
    """A perturbed transcription; a recorded sweep point is judged against its baseline, a drawn
    perturbation against the clean WER (``passed`` None: no baseline to judge by)."""
    part = perturbed_part(result)
    check = part.checks[0] if part.checks else None
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


def _corpus_json(corpus: CorpusResult | None, part: Part | None) -> dict[str, Any] | None:
    if corpus is None:
        return None
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
        "checks": [c.describe() for c in part.checks] if part else [],
        **_verdict(part),
    }


def _part_json(part: Part | None) -> dict[str, Any]:
    if part is None:
        return {}
    return {"checks": [c.describe() for c in part.checks], "not_gated": part.not_gated, **_verdict(part)}


def _analysis_json(run: ModelRun, verdict: RunVerdict | None) -> dict[str, Any]:
    """The run-wide parts beyond the corpus: error analysis, slices, hallucination, voice."""
    if verdict is None:
        return {}
    out: dict[str, Any] = {}
    if verdict.analysis is not None:
        out["analysis"] = verdict.analysis.as_dict()
    if verdict.slice_report is not None:
        out["slices"] = {"rows": verdict.slice_report.rows(), **_part_json(verdict.slices)}
    if verdict.hallucination_report is not None:
        out["hallucination"] = {**verdict.hallucination_report.as_dict(), **_part_json(verdict.hallucination)}
    if verdict.voice_figures is not None:
        baseline = run.against.baseline
        stored = dict((baseline.corpus if baseline else {}).get("tts_quality") or {})
        stored.pop("voice", None)  # the embedding: in the baseline file
        out["tts_corpus"] = {**verdict.voice_figures, "baseline": stored or None, **_part_json(verdict.voice)}
    return out


def _timestamps_json(run: ModelRun) -> dict[str, Any] | None:
    """The word-timestamp error pooled over the aligned cases' words, or why it was not measured."""
    if run.timestamps_note:
        return {"not_measured": run.timestamps_note}
    found = pooled(run.results.values())
    return {**found[0].as_dict(), "cases": found[1]} if found else None


def run_json(run: ModelRun, verdict: RunVerdict | None) -> dict[str, Any]:
    """One run as JSON, judged by ``verdict`` (None for a run that was skipped), cases in manifest
    order whichever order (or process) measured them."""
    identity = asdict(run.identity) if run.identity else None
    order = [c.id for c in run.cases]
    results = [run.results[i] for i in order if i in run.results]
    syntheses = [run.syntheses[i] for i in order if i in run.syntheses]
    position = {case_id: i for i, case_id in enumerate(order)}
    perturbed = sorted(run.perturbed.values(), key=lambda p: (position[p.case.id], p.perturbation.id))
    return {
        "model": run.name,
        "device": run.device,
        "skipped": run.skip_reason,
        "identity": identity,
        "options": dict(run.options),
        "normalizer": normalizer_id(),
        "scorer": scorer_id(),
        "baseline": shown(run.against.path),
        "load_s": run.load_s,
        "load_mb": run.load_mb,
        "machine": machine() if run.results else None,
        "verdict": verdict.as_json() if verdict else None,
        "corpus": _corpus_json(run.measured_corpus(), verdict.corpus if verdict else None),
        "timestamps": _timestamps_json(run),
        **_analysis_json(run, verdict),
        "cases": [_case_json(r, verdict) for r in results],
        "tts_cases": [_synthesis_json(s, verdict.tts.get(s.case.id) if verdict else None) for s in syntheses],
        "robustness": [_perturbed_json(p) for p in perturbed],
        "benchmarks": list(run.benchmarks.values()),
        "errors": dict(run.errors),
    }


# The results file's schema. 1: what 0.1.0 and 0.2.0 wrote, with no "schema" key; 2 (0.3.0):
# the key, each check's note, and in the verdict the parts not gated (``not_gated``: part to
# reason) and the figures beyond their limit that do not fail (``beyond_the_limit``).
RESULTS_SCHEMA = 2


def results_document(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The results file of runs given as ``run_json``: one run object, or ``{"runs": [...]}``,
    with the schema it is written in."""
    return {"schema": RESULTS_SCHEMA, **(runs[0] if len(runs) == 1 else {"runs": runs})}


def _noted(record: Any) -> Any:
    """``record`` with a note on each of its checks' outcomes where it has none."""
    if not isinstance(record, dict) or not isinstance(record.get("outcomes"), list):
        return record
    return {**record, "outcomes": [{"note": "", **o} for o in record["outcomes"]]}


def _from_schema_1(run: dict[str, Any]) -> dict[str, Any]:
    """A run as 0.2.0 (or 0.1.0) wrote it, in schema 2: what schema 1 did not record (a check's
    note, the parts not gated, the figures beyond their limit; identity differences and unused
    entries before 0.2.0) is empty."""
    verdict = run.get("verdict")
    if isinstance(verdict, dict):
        verdict = {
            "identity_differences": [],
            "unused_baseline_entries": [],
            "notes": [],
            "not_gated": {},
            "beyond_the_limit": [],
            **verdict,
        }
    cases = [_noted(c) for c in run["cases"]]
    tts = [_noted(c) for c in run.get("tts_cases") or []]
    return {**run, "verdict": verdict, "corpus": _noted(run.get("corpus")), "cases": cases, "tts_cases": tts}


def runs_of(document: Any, name: str) -> list[dict[str, Any]]:
    """The runs of a results file (one run, or ``{"runs": [...]}``), in the current schema: a
    file of an older schema is migrated, one of an unknown schema refused."""
    if not isinstance(document, dict):
        raise SpeechlabError(f"{name}: not a results file written by --speech-results")
    schema = document.get("schema", 1)
    if schema not in (1, RESULTS_SCHEMA):
        raise SpeechlabError(f"{name}: unsupported results schema {schema!r} (expected {RESULTS_SCHEMA})")
    runs = document.get("runs", [document])
    if not runs or not all(isinstance(r, dict) and "model" in r and "cases" in r for r in runs):
        raise SpeechlabError(f"{name}: not a results file written by --speech-results")
    runs = [{k: v for k, v in r.items() if k != "schema"} for r in runs]
    return [_from_schema_1(r) for r in runs] if schema == 1 else runs

"""What a run measured, as the results JSON and as new baseline files."""

from __future__ import annotations

import os
import platform
import re
import sys
from dataclasses import asdict
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from .calibration import calibrate
from .gate import corpus_checks, perturbed_check, synthesis_verdict, verdict
from .metrics import Timing, normalizer_id
from .provenance import git_commit, utc_now, who
from .runner import CaseResult, CorpusResult, ModelRun, PerturbedResult, SynthesisResult
from .storage import Baseline, shown

CORE_PACKAGES = ("pytest-speechlab", "openai-whisper", "jiwer", "numpy", "soundfile", "librosa")


def packages(extra: dict[str, str]) -> dict[str, str]:
    found = {}
    for name in CORE_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return {**found, **extra}


SIMD_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "asimd", "sve")


def cpu_model() -> tuple[str, list[str]]:
    """The CPU's name and the SIMD extensions that change numeric kernels (Linux; else the
    platform's processor string): quantised transcripts can differ between them."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine(), []
    name = re.search(r"^(?:model name|Model)\s*:\s*(.+)$", info, re.M)
    flags = re.search(r"^(?:flags|Features)\s*:\s*(.+)$", info, re.M)
    present = set(flags.group(1).split()) if flags else set()
    return (name.group(1).strip() if name else platform.machine()), [f for f in SIMD_FLAGS if f in present]


def machine() -> dict[str, Any]:
    cpu, simd = cpu_model()
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu": cpu,
        "simd": simd,
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "calibration_ms": round(calibrate() * 1000, 3),
    }


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


def _latency_entry(timing: Timing, repeated: bool, old: dict[str, Any]) -> dict[str, Any]:
    """Latency figures of a baseline entry: the median (reported) and the fastest run (gated),
    new from repeated runs, else the stored ones."""
    if repeated:
        return {"latency_ms": round(timing.median * 1000, 1), "latency_min_ms": round(timing.min * 1000, 1)}
    return {k: old[k] for k in ("latency_ms", "latency_min_ms") if k in old}


def new_baseline(run: ModelRun, full_manifest: bool) -> tuple[Baseline, dict[str, list[Any]], dict[str, Any]]:
    """The baseline this run measured, merged over the stored one; and what changed.

    Cases not measured in this run keep their stored values; the corpus entry is replaced only
    when the run covered the whole manifest, so a tag-filtered update cannot shrink it."""
    engine = run.engine
    old = run.baseline
    cases = {k: dict(v) for k, v in (old.cases if old else {}).items()}
    valid = {c.id for c in run.cases} if full_manifest else None
    if valid is not None:
        cases = {k: v for k, v in cases.items() if k in valid}
    for case_id, result in run.results.items():
        entry: dict[str, Any] = {
            "wer": round(result.score.wer, 4),
            "cer": round(result.score.cer, 4),
            "hypothesis": result.score.hypothesis,
        }
        entry.update(_latency_entry(result.timing, result.repeated, cases.get(case_id, {})))
        for kept in ("tts", "robustness"):
            if kept in cases.get(case_id, {}):
                entry[kept] = cases[case_id][kept]
        cases[case_id] = entry
    for perturbed in run.perturbed.values():
        if perturbed.recorded:
            sweep = cases.setdefault(perturbed.case.id, {}).setdefault("robustness", {})
            sweep[perturbed.perturbation.id] = round(perturbed.score.wer, 4)
    judges = {s.judge for s in run.syntheses.values() if s.judge}
    judge = judges.pop() if len(judges) == 1 else None
    if old and old.meta.get("judge") != judge and judge is not None:  # judge WERs of another judge
        for values in cases.values():
            for key in ("judge_wer", "judge_hypothesis"):
                values.get("tts", {}).pop(key, None)
    for case_id, synthesis in run.syntheses.items():
        before = cases.get(case_id, {}).get("tts", {})
        tts: dict[str, Any] = dict(synthesis.health)
        tts.update(_latency_entry(synthesis.timing, synthesis.repeated, before))
        if synthesis.judge_score is not None:
            tts.update(
                judge_wer=round(synthesis.judge_score.wer, 4),
                judge_hypothesis=synthesis.judge_score.hypothesis,
            )
        elif judge is not None or (old and old.meta.get("judge")):
            tts.update({k: before[k] for k in ("judge_wer", "judge_hypothesis") if k in before})
        cases.setdefault(case_id, {})["tts"] = tts
    corpus = dict(old.corpus) if old else {}
    measured = run.measured_corpus()
    if measured is not None and full_manifest:
        corpus = {
            "wer": round(measured.wer, 4),
            "cer": round(measured.cer, 4),
            "cases": len(measured.results),
            "case_ids_sha256": measured.case_ids_sha256,
            "audio_s": round(measured.audio_s, 3),
            "nonspeech_words": measured.nonspeech_words,
        }
    identity = asdict(engine.identity)
    # The machine block is where the stored latencies were timed (its calibration scales them):
    # an update that timed nothing keeps the machine the latencies came from.
    timed = any(r.repeated for r in [*run.results.values(), *run.syntheses.values()])
    meta = {
        "model": run.name,
        "device": run.device.partition(":")[0],
        "identity": identity,
        "normalizer": normalizer_id(),
        "packages": packages(identity.pop("packages")),
        "machine": machine() if timed or not old else old.meta.get("machine", machine()),
        "updated": utc_now(),
    }
    judge = judge or (old.meta.get("judge") if old else None)
    if judge and any("judge_wer" in v.get("tts", {}) for v in cases.values()):
        meta["judge"] = judge
    baseline = Baseline(path=run.baseline_file, cases=cases, corpus=corpus, meta=meta)
    changes = diff(old, baseline)
    history = {
        "when": meta["updated"],
        "who": who(),
        "commit": git_commit(),
        "model": run.name,
        "device": meta["device"],
        "revision": identity["revision"],
        "changes": changes,
    }
    return baseline, changes, history


def diff(old: Baseline | None, new: Baseline) -> dict[str, list[Any]]:
    """``{"case.metric": [old, new]}`` for every number that changed (old None when added)."""
    changes: dict[str, list[Any]] = {}
    before = {f"corpus.{k}": v for k, v in (old.corpus if old else {}).items()}
    after = {f"corpus.{k}": v for k, v in new.corpus.items()}
    for source, target in ((old.cases if old else {}, before), (new.cases, after)):
        for case_id, values in source.items():
            skip = ("hypothesis", "tts", "robustness")
            target.update({f"{case_id}.{k}": v for k, v in values.items() if k not in skip})
            target.update({f"{case_id}.robustness.{k}": v for k, v in values.get("robustness", {}).items()})
            tts = values.get("tts", {})
            target.update({f"{case_id}.tts.{k}": v for k, v in tts.items() if k != "judge_hypothesis"})
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            changes[key] = [before.get(key), after.get(key)]
    return changes

"""Recording: the baseline a run measured, merged over the stored one, and what changed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..core.metrics import Timing, normalizer_id, scorer_id
from ..io.calibration import LOADED_SHARE
from ..io.provenance import git_commit, machine, packages, utc_now, who
from ..store.baselines import Baseline
from .error_analysis import corpus_entry
from .quality import QUALITY_KEYS, corpus_figures, measured_voices, quality_entry, reference
from .results import text_digest
from .run import ModelRun


@dataclass(frozen=True)
class Update:
    """A new baseline with what changed, its history line and the entries it dropped."""

    baseline: Baseline
    changes: dict[str, list[Any]]
    history: dict[str, Any]
    removed: list[str]  # cases no longer in the manifest
    notes: list[str] = field(default_factory=list)  # figures not recorded, and why


WALL_KEYS = ("latency_ms", "latency_min_ms", "calibration_ms")
CPU_KEYS = ("cpu_min_ms", "calibration_cpu_ms")


def wall_recorded(timing: Timing) -> bool:
    """Whether a repeated timing's wall time may be recorded: its fastest run was not taken while
    other processes held more than ``LOADED_SHARE`` of the CPU (unknown load counts as quiet)."""
    share = timing.fastest_others_cpu
    return share is None or share <= LOADED_SHARE


def _latency_entry(
    timing: Timing, repeated: bool, old: dict[str, Any], notes: list[str], where: str
) -> dict[str, Any]:
    """Latency figures of a baseline entry, new from repeated runs, else the stored ones: the
    median (reported), the fastest run (gated) and the fastest calibration round beside the runs
    (what the gate scales by), and the least CPU time with the calibration round's.

    A wall time whose fastest run was taken while other processes held the CPU (after the
    re-timing rounds) is not recorded: the stored one stays, or none, and ``notes`` says so. Its
    CPU time is recorded all the same: load does not inflate it."""
    if not repeated:
        return {k: old[k] for k in (*WALL_KEYS, *CPU_KEYS) if k in old}
    entry: dict[str, Any] = {}
    share = timing.fastest_others_cpu
    if not wall_recorded(timing):
        kept = {k: old[k] for k in WALL_KEYS if k in old}
        entry.update(kept)
        notes.append(
            f"{where}: wall-time latency NOT recorded: other processes used {share or 0:.0%} of the CPU "
            f"during its fastest run ({timing.retimed} re-timing round(s)); "
            + (
                "the stored one is kept"
                if kept
                else "none is stored until it is recorded on a quieter machine"
            )
        )
    else:
        entry.update(latency_ms=round(timing.median * 1000, 1), latency_min_ms=round(timing.min * 1000, 1))
        if timing.calibration_min is not None:
            entry["calibration_ms"] = round(timing.calibration_min * 1000, 3)
    if timing.cpu_min is not None:
        entry["cpu_min_ms"] = round(timing.cpu_min * 1000, 1)
        if timing.calibration_cpu_min is not None:
            entry["calibration_cpu_ms"] = round(timing.calibration_cpu_min * 1000, 3)
    return entry


def _judge(
    run: ModelRun, old: Baseline | None, cases: dict[str, dict[str, Any]], notes: list[str]
) -> str | None:
    """The judge whose WERs the new baseline holds; WERs of another judge are dropped."""
    judges = {s.judge for s in run.syntheses.values() if s.judge}
    judge = judges.pop() if len(judges) == 1 else None
    if old and old.meta.get("judge") != judge and judge is not None:  # judge WERs of another judge
        for values in cases.values():
            for key in ("judge_wer", "judge_hypothesis"):
                values.get("tts", {}).pop(key, None)
    for case_id, synthesis in run.syntheses.items():
        before = cases.get(case_id, {}).get("tts", {})
        tts: dict[str, Any] = dict(synthesis.health)
        tts.update(_latency_entry(synthesis.timing, synthesis.repeated, before, notes, f"{case_id} (tts)"))
        if synthesis.quality is not None:  # what was measured: a figure not measured now is dropped
            tts.update(quality_entry(synthesis.quality))
        else:  # not measured in this run: the stored figures stay
            tts.update({k: before[k] for k in QUALITY_KEYS if k in before})
        if synthesis.judge_score is not None:
            tts.update(
                judge_wer=round(synthesis.judge_score.wer, 4),
                judge_hypothesis=synthesis.judge_score.hypothesis,
            )
        elif judge is not None or (old and old.meta.get("judge")):
            tts.update({k: before[k] for k in ("judge_wer", "judge_hypothesis") if k in before})
        entry = cases.setdefault(case_id, {})
        entry["tts"] = tts
        entry["reference_sha256"] = text_digest(synthesis.case.text)
    judge = judge or (old.meta.get("judge") if old else None)
    return judge if judge and any("judge_wer" in v.get("tts", {}) for v in cases.values()) else None


def new_baseline(run: ModelRun, full_manifest: bool) -> Update:
    """The baseline this run measured, merged over the stored one; and what changed.

    Cases not measured in this run keep their stored values; the corpus entry is replaced and
    entries of cases that left the manifest are dropped only when the run covered the whole
    manifest, so a tag-filtered update can neither shrink the corpus nor lose cases."""
    engine = run.engine
    old = run.against.baseline
    cases = {k: dict(v) for k, v in (old.cases if old else {}).items()}
    removed: list[str] = []
    notes: list[str] = []
    if full_manifest:
        valid = {c.id for c in run.cases}
        removed = sorted(k for k in cases if k not in valid)
        cases = {k: v for k, v in cases.items() if k in valid}
    for case_id, result in run.results.items():
        entry: dict[str, Any] = {
            "wer": round(result.score.wer, 4),
            "cer": round(result.score.cer, 4),
            "hypothesis": result.score.hypothesis,
            "reference_sha256": text_digest(result.case.text),
        }
        entry.update(_latency_entry(result.timing, result.repeated, cases.get(case_id, {}), notes, case_id))
        for kept in ("tts", "robustness"):
            if kept in cases.get(case_id, {}):
                entry[kept] = cases[case_id][kept]
        if result.timestamps is not None:  # as measured, rounded as TimestampError.as_dict rounds
            entry["timestamps"] = dict(result.timestamps)
        elif result.case.alignment is not None and "timestamps" in cases.get(case_id, {}):
            entry["timestamps"] = cases[case_id]["timestamps"]  # not measurable in this run: kept
        cases[case_id] = entry
    for perturbed in run.perturbed.values():
        if perturbed.recorded:
            sweep = cases.setdefault(perturbed.case.id, {}).setdefault("robustness", {})
            sweep[perturbed.perturbation.id] = round(perturbed.score.wer, 4)
    judge = _judge(run, old, cases, notes)
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
            **corpus_entry(measured.results),
        }
    voices = measured_voices(run)
    if voices is not None and full_manifest:
        voice = reference(run).as_entry()
        corpus["tts_quality"] = corpus_figures(voices) | ({"voice": voice} if voice else {})
    identity = asdict(engine.identity)
    # The machine block is where the stored latencies were timed: an update that recorded no wall
    # time (none timed, or every one refused under load) keeps the machine the latencies came from.
    timings = [r.timing for r in run.results.values() if r.repeated]
    timings += [s.timing for s in run.syntheses.values() if s.repeated]
    timed = any(wall_recorded(t) for t in timings)
    meta: dict[str, Any] = {
        "model": run.name,
        "device": run.device.partition(":")[0],
        "identity": identity,
        "normalizer": normalizer_id(),
        "scorer": scorer_id(),
        "packages": packages(identity.pop("packages")),
        "machine": machine() if timed or not old else old.meta.get("machine", machine()),
        "updated": utc_now(),
    }
    if judge:
        meta["judge"] = judge
    baseline = Baseline(path=run.against.path, cases=cases, corpus=corpus, meta=meta)
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
    if removed:
        history["removed_cases"] = removed
    if notes:
        history["not_recorded"] = notes
    return Update(baseline, changes, history, removed, notes)


def diff(old: Baseline | None, new: Baseline) -> dict[str, list[Any]]:
    """``{"case.metric": [old, new]}`` for every figure that changed (old None when added)."""
    changes: dict[str, list[Any]] = {}
    before = _flat("corpus", old.corpus if old else {})
    after = _flat("corpus", new.corpus)
    for source, target in ((old.cases if old else {}, before), (new.cases, after)):
        for case_id, values in source.items():
            target.update(_flat(case_id, values))
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            changes[key] = [before.get(key), after.get(key)]
    return changes


NOT_DIFFED = ("hypothesis", "judge_hypothesis", "embedding")


def _flat(prefix: str, values: dict[str, Any]) -> dict[str, Any]:
    """``{"prefix.key.subkey": value}`` for every figure, nested ones included; the texts and
    the voice's embedding are left out (their figures say what changed); the phrases written
    over non-speech are listed whole."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key == "nonspeech_phrases":
            out[f"{prefix}.{key}"] = sorted(value)
        elif key in NOT_DIFFED:
            continue
        elif isinstance(value, dict):
            out.update(_flat(f"{prefix}.{key}", value))
        else:
            out[f"{prefix}.{key}"] = value
    return out

"""Baseline files: one small JSON file per model and device, written atomically.

Files are sorted, indented and rounded so that the diff of ``baselines/`` in a pull request
reads as what changed. Every update also appends a line to ``baselines/history.jsonl``; the
file is replaced with a temp-file-and-rename, so an interrupted update leaves the old file.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.metrics import Timing, normalizer_id
from ..core.provenance import git_commit, machine, packages, utc_now, who
from ..errors import SpeechlabError
from .atomic import dumps, write_atomic

if TYPE_CHECKING:
    from ..measure.run import ModelRun

SCHEMA = 1
HISTORY = "history.jsonl"


@dataclass
class Baseline:
    """The stored measurements of one model on one device."""

    path: Path
    cases: dict[str, dict[str, Any]] = field(default_factory=dict)
    corpus: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)  # identity, machine, normaliser, ...

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **self.meta, "corpus": self.corpus, "cases": self.cases}


def baseline_path(folder: Path, model: str, device: str) -> Path:
    """``baselines/<model>/<device>.json``; cuda:1 shares the cuda baseline."""
    return folder / model / f"{device.partition(':')[0]}.json"


def _check_numbers(path: Path, where: str, values: Any) -> None:
    if not isinstance(values, dict):
        raise SpeechlabError(f"{path}: {where} must be an object")
    for key, value in values.items():
        if key in ("tts", "robustness"):
            _check_numbers(path, f"{where}.{key}", value)
        if key == "robustness" and not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in value.values()
        ):
            raise SpeechlabError(f"{path}: {where}.robustness must map perturbations to WERs >= 0")
        if key in ("wer", "cer", "judge_wer", "latency_ms", "latency_min_ms", "rtf", "audio_s") and not (
            isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
        ):
            raise SpeechlabError(f"{path}: {where}.{key} must be a number >= 0, got {value!r}")


def read_baseline(path: Path) -> Baseline | None:
    """The baseline at ``path``, None if there is none; a malformed file is an error."""
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SpeechlabError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpeechlabError(f"{path}: cannot read baseline ({exc})") from None
    if not isinstance(data, dict):
        raise SpeechlabError(f"{path}: a baseline must be a JSON object")
    if data.get("schema") != SCHEMA:
        raise SpeechlabError(
            f"{path}: unsupported baseline schema {data.get('schema')!r} (expected {SCHEMA})"
        )
    cases = data.pop("cases", None)
    corpus = data.pop("corpus", {})
    data.pop("schema")
    if not isinstance(cases, dict):
        raise SpeechlabError(f"{path}: 'cases' must be an object of case id to metrics")
    for case_id, values in cases.items():
        _check_numbers(path, f"cases.{case_id}", values)
    _check_numbers(path, "corpus", corpus)
    return Baseline(path=path, cases=cases, corpus=corpus, meta=data)


def write_baseline(baseline: Baseline, history: dict[str, Any]) -> None:
    """Write the baseline, then append ``history`` to the history file beside the model folders."""
    write_atomic(baseline.path, dumps(baseline.to_json()))
    log = baseline.path.parent.parent / HISTORY
    previous = log.read_text(encoding="utf-8") if log.exists() else ""
    line = json.dumps(history, sort_keys=True, ensure_ascii=False)
    write_atomic(log, previous + line + "\n")


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

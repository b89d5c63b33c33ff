"""The terminal summary: per case and corpus figures beside their baselines, and a verdict."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..core.metrics import corpus_scores, normalizer_id
from ..gate.checks import robustness_check
from ..gate.verdicts import RunVerdict
from ..measure.results import CaseResult, PerturbedResult, SynthesisResult
from ..measure.run import ModelRun
from ..store.atomic import shown


def _rate(words_per_s: float | None) -> str:
    return "" if words_per_s is None else f" ({words_per_s:.2f}/s)"


def _num(value: Any, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _latency(result: CaseResult | SynthesisResult, base: dict[str, Any]) -> str:
    t = result.timing
    if result.repeated:
        text = f"{t.median * 1000:.1f} [{t.min * 1000:.1f}-{t.max * 1000:.1f}] x{len(t.runs)}"
    else:
        text = f"{t.median * 1000:.1f} (1 run)"
    if "latency_ms" in base:
        text += f" / {base['latency_ms']:.1f}"
    return text


def run_lines(run: ModelRun, verdict: RunVerdict | None) -> list[str]:
    """Lines for one model on one device, judged by ``verdict`` (None: skipped)."""
    title = f"speechlab: {run.name} on {run.device}"
    if run.skip_reason or verdict is None:
        return [f"{title}: skipped ({run.skip_reason})"]
    lines = [title]
    if run.identity is not None:
        i = run.identity
        lines.append(
            f"  model {i.model_id} ({i.source}, {i.revision[:19]}...), {i.compute_type}, {i.engine}; "
            f"load {run.load_s or 0:.2f} s"
        )
    lines.append(f"  normaliser {normalizer_id()}; baseline {shown(run.against.path)}")
    if run.against.refused:
        lines.append(f"  not compared: {run.against.refused}")
    lines += [f"  model differs from the baseline's: {line}" for line in verdict.identity]
    rows: list[tuple[str, ...]] = [
        ("case", "WER / base", "CER / base", "latency ms / base", "RTF", "verdict")
    ]
    for case in run.cases:
        part = verdict.cases.get(case.id)
        result = run.results.get(case.id)
        if result is None:
            if part is not None:
                rows.append((case.id, "-", "-", "-", "-", part.verdict))
            continue
        base = result.stored or {}
        rows.append(
            (
                case.id,
                f"{_num(result.score.wer)} / {_num(base.get('wer'))}",
                f"{_num(result.score.cer)} / {_num(base.get('cer'))}",
                _latency(result, base),
                _num(result.rtf),
                part.verdict if part else "-",
            )
        )
    if run.results or run.errors or "asr" in run.engine_cls.tasks:
        lines += _table(rows)
        lines.extend(corpus_lines(run, verdict))
    if run.syntheses:
        lines += _table(synthesis_rows(run, verdict))
        lines += judge_lines(run)
    if verdict.unused:
        lines.append(
            f"  unused baseline entries (not in the manifest; --update-baselines removes them): "
            f"{', '.join(verdict.unused)}"
        )
    lines += robustness_lines(run) + speed_lines(run)
    return [*lines, f"  overall: {verdict.overall}"]


def speed_lines(run: ModelRun) -> list[str]:
    """The pytest-benchmark figures in one line: load, per-case RTFx, batched RTFx, first audio."""
    marks = run.benchmarks
    parts = []
    if "load" in marks:
        parts.append(f"load {marks['load']['median_s']:.2f} s")
    cases = [b["rtfx"] for name, b in marks.items() if name.startswith("transcribe[")]
    if cases:
        parts.append(f"RTFx per case {min(cases):.1f}-{max(cases):.1f} ({len(cases)} cases)")
    batched = [
        f"{b['batch_size']}: {b['rtfx']:.1f}" for name, b in marks.items() if name.startswith("batched[")
    ]
    if batched:
        parts.append("batched RTFx by batch size " + ", ".join(batched))
    first = [b["median_s"] * 1000 for name, b in marks.items() if name.startswith("first_audio[")]
    if first:
        parts.append(f"time to first audio {min(first):.0f}-{max(first):.0f} ms")
    return ["  speed (pytest-benchmark medians): " + "; ".join(parts)] if parts else []


def robustness_lines(run: ModelRun) -> list[str]:
    """How many perturbed transcriptions stayed within their limit; the noise sweep as a curve
    of corpus WER (over the robustness cases) against SNR."""
    drawn = [r for r in run.perturbed.values() if not r.recorded]
    lines = []
    if drawn:
        beyond = [r for r in drawn if not robustness_check(r, run.settings.tolerances).passed]
        cases = len({r.case.id for r in drawn})
        lines.append(
            f"  robustness: {len(drawn)} perturbed transcriptions of {cases} case(s), "
            f"{len(beyond)} beyond clean WER + {run.settings.tolerances.robustness:g}"
        )
    sweep: dict[str, list[PerturbedResult]] = {}
    for r in run.perturbed.values():
        if r.recorded:
            sweep.setdefault(r.perturbation.describe(), []).append(r)
    points = [
        f"{name.removeprefix('noise at ').removesuffix(' SNR')} {corpus_scores(*_texts(rs))[0]:.3f}"
        for name, rs in sweep.items()
    ]
    if points:
        lines.append("  noise sweep, corpus WER at SNR: " + ", ".join(points))
    return lines


def _texts(results: list[PerturbedResult]) -> tuple[list[str], list[str]]:
    return [r.score.reference for r in results], [r.score.hypothesis for r in results]


def judge_lines(run: ModelRun) -> list[str]:
    """The judge's corpus WER over the synthesised speech, beside the baseline's."""
    judged = [r for r in run.syntheses.values() if r.judge_score is not None]
    if not judged:
        return []
    refs = [r.judge_score.reference for r in judged if r.judge_score]
    hyps = [r.judge_score.hypothesis for r in judged if r.judge_score]
    wer, _ = corpus_scores(refs, hyps)
    before = [(r.stored or {}).get("judge_hypothesis") for r in judged]
    stored = [b for b in before if isinstance(b, str)]
    base = corpus_scores(refs, stored)[0] if len(stored) == len(before) else None
    return [
        f"  intelligibility: judge WER {wer:.4f} over {len(judged)} utterances "
        f"(baseline {_num(base)}), judged by {judged[0].judge}"
    ]


def _table(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def synthesis_rows(run: ModelRun, verdict: RunVerdict) -> list[tuple[str, ...]]:
    header = (
        "tts case",
        "duration s / base",
        "RMS dBFS",
        "clipping",
        "silence lead/trail s",
        "judge WER / base",
    )
    rows: list[tuple[str, ...]] = [(*header, "latency ms / base", "RTF", "verdict")]
    for case_id, result in run.syntheses.items():
        h, base = result.health, result.stored or {}
        judge = result.judge_score
        part = verdict.tts.get(case_id)
        rows.append(
            (
                case_id,
                f"{h['duration_s']:.2f} / {_num(base.get('duration_s'), 2)}",
                f"{h['rms_dbfs']:.1f}",
                f"{h['clipping']:.4f}",
                f"{h['lead_silence_s']:.2f}/{h['trail_silence_s']:.2f}",
                f"{_num(judge.wer if judge else None)} / {_num(base.get('judge_wer'))}",
                _latency(result, base),
                _num(result.rtf),
                part.verdict if part else "-",
            )
        )
    return rows


def corpus_lines(run: ModelRun, verdict: RunVerdict) -> list[str]:
    corpus = run.measured_corpus()
    if corpus is None:
        return [f"  corpus: not all {len(run.cases)} selected cases were measured"]
    lines = [
        f"  corpus: {len(corpus.results)} cases, {corpus.audio_s:.1f} s audio; "
        f"speech WER {corpus.wer:.4f}, CER {corpus.cer:.4f}; words on non-speech {corpus.nonspeech_words}"
        f"{_rate(corpus.hallucination_rate)}; "
        f"latency {corpus.latency_s:.2f} s, RTF {corpus.rtf:.3f}"
    ]
    part = verdict.corpus
    if part is not None:
        lines += [f"    {c.describe()}" for c in part.checks]
        lines += [f"    corpus not gated: {part.not_gated}"] if part.not_gated else []
    return lines


def update_lines(path: str, changes: dict[str, list[Any]], removed: Sequence[str] = ()) -> list[str]:
    if not changes:
        return [f"speechlab: {path} unchanged"]
    lines = [f"speechlab: wrote {path} ({len(changes)} change(s))"]
    if removed:
        lines.append(f"  removed {len(removed)} case(s) no longer in the manifest: {', '.join(removed)}")
    for key, (old, new) in changes.items():
        lines.append(f"  {key}: {'(new)' if old is None else old} -> {'(removed)' if new is None else new}")
    return lines


def comparison_rows(runs: list[ModelRun]) -> list[tuple[str, ...]]:
    """One row per model and device that ran: the side-by-side view of a multi-model run.
    RTFx is audio seconds per processing second (inverse RTF, as the Open ASR Leaderboard)."""
    header: tuple[str, ...] = (
        "model",
        "device",
        "WER",
        "CER",
        "non-speech words/s",
        "RTF",
        "RTFx",
        "TTS RTF",
    )
    header += ("load s", "load MB")
    rows = [header]
    for run in runs:
        if run.skip_reason or not (run.results or run.syntheses):
            continue
        corpus = run.measured_corpus()
        tts = [r.rtf for r in run.syntheses.values()]
        tts_rtf = sum(tts) / len(tts) if tts else None
        rows.append(
            (
                run.name,
                run.device,
                _num(corpus.wer, 4) if corpus else "-",
                _num(corpus.cer, 4) if corpus else "-",
                _num(corpus.hallucination_rate, 2) if corpus else "-",
                _num(corpus.rtf) if corpus else "-",
                _num(1 / corpus.rtf, 1) if corpus and corpus.rtf else "-",
                _num(tts_rtf),
                _num(run.load_s, 2),
                _num(run.load_mb, 0),
            )
        )
    return rows


def comparison_lines(runs: list[ModelRun]) -> list[str]:
    rows = comparison_rows(runs)
    if len(rows) < 3:  # a comparison needs two runs
        return []
    return ["speechlab: comparison (corpus figures over the selected cases)", *_table(rows)]

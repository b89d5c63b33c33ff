"""The terminal summary: per case and corpus figures beside their baselines, and a verdict.

Where a case or a run-wide part fails, what changed against the baseline comes first. Past
``MAX_ROWS`` cases only the worst are listed (those not passing first, then the highest WER),
then the count of each verdict and the corpus: the results file, the Markdown summary and the
HTML report keep every case.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..core.analysis import describe_errors
from ..core.metrics import corpus_scores, normalizer_id
from ..core.perturb import Perturbation
from ..gate.checks import PASS, robustness_check
from ..gate.slice_checks import SliceReport
from ..gate.verdicts import PRECEDENCE, Part, RunVerdict
from ..measure.quality import DNSMOS
from ..measure.ray_pass import RayOutcome
from ..measure.results import CaseResult, PerturbedResult, SynthesisResult
from ..measure.run import ModelRun
from ..measure.word_timestamps import pooled
from ..store.atomic import shown
from .columns import (
    DB,
    MOS,
    MS,
    OVERVIEW,
    PER_SECOND,
    RTF,
    SECONDS,
    SIMILARITY,
    cells,
    latency,
    number,
    overview,
    pair,
)

MAX_ROWS = 40  # cases listed in full up to this many; beyond, the worst ones
WORST = 20  # the cases listed beyond MAX_ROWS
TOP = 5  # entries of each ranking (confusions, deleted and inserted words)
RANK = {verdict: i for i, verdict in enumerate(PRECEDENCE)}


def _rate(words_per_s: float | None) -> str:
    return "" if words_per_s is None else f" ({words_per_s:.2f}/s)"


def _latency(result: CaseResult | SynthesisResult, base: dict[str, Any]) -> str:
    t = result.timing
    runs = len(t.runs) if result.repeated else 1
    text = latency(t.median * 1000, t.min * 1000, t.max * 1000, runs)
    return text + (f" / {number(base['latency_ms'], MS)}" if "latency_ms" in base else "")


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
    changed = verdict.what_changed()
    if changed and verdict.fails:
        lines += ["  what changed against the baseline:", *(f"    {line}" for line in changed)]
    rows: list[tuple[str, ...]] = [
        ("case", "WER / base", "CER / base", "latency ms / base", "RTF", "verdict")
    ]
    ids = [c.id for c in run.cases if c.id in run.results or c.id in verdict.cases]
    listed = worst_first(ids, verdict.cases, lambda i: run.results[i].score.wer if i in run.results else None)
    for case_id in listed:
        part = verdict.cases.get(case_id)
        result = run.results.get(case_id)
        if result is None:
            if part is not None:
                rows.append((case_id, "-", "-", "-", "-", part.verdict))
            continue
        base = result.stored or {}
        rows.append(
            (
                case_id,
                pair(result.score.wer, base.get("wer")),
                pair(result.score.cer, base.get("cer")),
                _latency(result, base),
                number(result.rtf, RTF),
                part.verdict if part else "-",
            )
        )
    if run.results or run.errors or "asr" in run.engine_cls.tasks:
        lines += _table(rows) + _more(len(ids), len(listed))
        lines += counts_lines(verdict.cases)
        lines.extend(corpus_lines(run, verdict))
        lines += analysis_lines(verdict) + timestamp_lines(run)
        if changed and not verdict.fails:
            lines.append(f"  what changed against the baseline: {changed[0]}")
    if run.syntheses:
        lines += _table(synthesis_rows(run, verdict))
        lines += judge_lines(run)
        lines += voice_lines(run, verdict)
    if verdict.unused:
        lines.append(
            f"  unused baseline entries (not in the manifest; --update-baselines removes them): "
            f"{', '.join(verdict.unused)}"
        )
    lines += robustness_lines(run) + speed_lines(run) + not_passing_lines(verdict)
    beyond = verdict.beyond_the_limit()
    lines += ["  beyond the limit without failing:", *(f"    {line}" for line in beyond)] if beyond else []
    return [*lines, f"  overall: {verdict.overall}"]


def ray_lines(outcome: RayOutcome) -> list[str]:
    """Where the accuracy pass ran: the cluster, its nodes and devices, and what went wrong there."""
    devices = sorted({d.partition(": ")[2] for d in outcome.devices()})
    latency = "on the cluster" if outcome.latency == "cluster" else "here, after the pass"
    lines = [
        f"  transcribed on Ray ({outcome.address}, Ray {outcome.ray_version}): {outcome.nodes} node(s), "
        f"{len(outcome.actors)} actor(s) on {', '.join(devices) or 'none'}, {outcome.cases} case(s) in "
        f"{outcome.seconds:.1f} s, audio as {outcome.audio}; latency subset timed {latency}"
    ]
    if outcome.died:
        lines.append(
            f"  Ray: {len(outcome.died)} actor(s) lost mid-run ({'; '.join(outcome.died)}); "
            f"{outcome.sent_again} case(s) sent again, each judged once"
        )
    lines += [f"  Ray: {line}" for line in outcome.refused]
    return lines


def not_passing_lines(verdict: RunVerdict) -> list[str]:
    """Each part that is not a pass with its outcome and why, up to ``MAX_ROWS`` of them."""
    found = verdict.not_passing()
    lines = [
        f"    {where} ({outcome})" + (f": {'; '.join(why)}" if why else "") for where, outcome, why in found
    ]
    more = [f"    ... and {len(found) - MAX_ROWS} more (every one is in the results file)"]
    return (["  not passing:", *lines[:MAX_ROWS]] + (more if len(found) > MAX_ROWS else [])) if found else []


def worst_first(ids: list[str], parts: dict[str, Part], rate: Callable[[str], float | None]) -> list[str]:
    """``ids`` in their order up to ``MAX_ROWS``; beyond, the ``WORST`` of them: those not passing
    first (in the verdicts' order of precedence), then the highest ``rate``."""
    if len(ids) <= MAX_ROWS:
        return ids

    def key(case_id: str) -> tuple[int, float]:
        part = parts.get(case_id)
        value = rate(case_id)
        return RANK.get(part.verdict if part else PASS, len(RANK)), -(value if value is not None else -1.0)

    return sorted(ids, key=key)[:WORST]


def _more(total: int, listed: int) -> list[str]:
    if total == listed:
        return []
    return [
        f"  ... and {total - listed} more (the worst {listed} of {total} are listed; every case is in "
        "the results file, the Markdown summary and the HTML report)"
    ]


def counts_lines(parts: dict[str, Part]) -> list[str]:
    """How many cases ended with each verdict."""
    counted: dict[str, int] = {}
    for part in parts.values():
        counted[part.verdict] = counted.get(part.verdict, 0) + 1
    order = sorted(counted, key=lambda v: RANK.get(v, len(RANK)))
    return [f"  cases: {', '.join(f'{counted[v]} {v}' for v in order)}"] if counted else []


def analysis_lines(verdict: RunVerdict) -> list[str]:
    """The corpus's errors, its slices and what the model wrote over non-speech, a few lines."""
    lines = []
    if verdict.analysis is not None and verdict.analysis.errors.cases:
        summary = describe_errors(verdict.analysis.errors, top=TOP).splitlines()
        lines += [f"  errors: {summary[0]}", *(f"  {line}" for line in summary[1:])]
    if verdict.slices is not None and verdict.slice_report is not None:
        lines += slice_lines(verdict.slices, verdict.slice_report)
    if verdict.hallucination is not None and verdict.hallucination_report is not None:
        lines.append(f"  hallucination: {verdict.hallucination_report.describe()}")
        lines += [f"    {line}" for line in verdict.hallucination.why]
        not_gated = verdict.hallucination.not_gated
        lines += [f"    hallucination not gated: {not_gated}"] if not_gated else []
    return lines


def pooled_timestamps(run: ModelRun) -> str | None:
    """The word-timestamp error pooled over the words of the aligned cases, or why it was not
    measured; None where no case is aligned. Each aligned case is gated on its own (its WER test)."""
    if run.timestamps_note:
        return run.timestamps_note
    found = pooled(run.results.values())
    if found is None:
        return None
    error, cases = found
    return f"{error.describe()} (pooled over {cases} aligned case{'s' if cases > 1 else ''})"


def timestamp_lines(run: ModelRun) -> list[str]:
    text = pooled_timestamps(run)
    return [] if text is None else [f"  {text}"]


def slice_lines(part: Part, report: SliceReport) -> list[str]:
    """How many slices, how many tested, which regressed (or the largest rise)."""
    changes = report.changes
    tested = sum(c.tested for c in changes)
    head = f"  slices: {len(report.figures)} with speech"
    if not changes:
        return [f"{head}; not compared ({part.not_gated})"]
    head += f", {len(changes)} compared, {tested} tested (bootstrap, Holm-corrected)"
    regressed = [c for c in changes if c.regressed]
    if regressed:
        return [f"{head}; {len(regressed)} regressed:", *(f"    {c.describe()}" for c in regressed)]
    rise = max(changes, key=lambda c: c.delta)
    largest = f"; largest rise {rise.name} {rise.delta:+.4f}" if rise.delta > 0 else ""
    return [f"{head}; none regressed{largest}"]


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
    sweep: dict[Perturbation, list[PerturbedResult]] = {}
    for r in run.perturbed.values():
        if r.recorded:
            sweep.setdefault(r.perturbation, []).append(r)
    # cleanest first, whichever order (or worker) measured them
    ordered = sorted(sweep.items(), key=lambda item: -dict(item[0].params).get("snr_db", 0.0))
    points = []
    for perturbation, results in ordered:
        snr = perturbation.describe().removeprefix("noise at ").removesuffix(" SNR")
        points.append(f"{snr} {number(corpus_scores(*_texts(results))[0])}")
    if points:
        lines.append("  noise sweep, corpus WER at SNR: " + ", ".join(points))
    return lines


def voice_lines(run: ModelRun, verdict: RunVerdict) -> list[str]:
    """The voice figures of each utterance beside its baseline's, their spread over the corpus,
    and what could not be measured."""
    measured = {i: r for i, r in run.syntheses.items() if r.quality is not None}
    if not measured:
        return []
    head = ("voice", "DNSMOS OVRL / base", "SIG", "BAK", "P.808", "similarity / base")
    rows: list[tuple[str, ...]] = [
        (*head, "longest silence s / base", "words/s / base", "pitch jumps / base")
    ]
    listed = worst_first(
        list(measured), verdict.tts, lambda i: -(measured[i].quality or {}).get("similarity", 1.0)
    )
    for case_id in listed:
        q, base = measured[case_id].quality or {}, measured[case_id].stored or {}
        now, then = q.get("dnsmos") or {}, base.get("dnsmos") or {}
        rows.append(
            (
                case_id,
                pair(now.get("ovrl"), then.get("ovrl"), MOS),
                *(number(now.get(k), MOS) for k in ("sig", "bak", "p808")),
                pair(q.get("similarity"), base.get("similarity"), SIMILARITY),
                pair(q.get("longest_silence_s"), base.get("longest_silence_s"), SECONDS),
                pair(q.get("words_per_s"), base.get("words_per_s"), PER_SECOND),
                f"{(q.get('pitch') or {}).get('jumps', '-')} / {(base.get('pitch') or {}).get('jumps', '-')}",
            )
        )
    lines = _table(rows) + _more(len(measured), len(listed))
    spreads = voice_spreads(verdict.voice_figures or {}, stored_voice_figures(run))
    if spreads:
        reference = next((r.quality.get("reference") for r in measured.values() if r.quality), None)
        lines.append(f"  voice corpus, now / base: {'; '.join(spreads)}")
        lines += [f"    speaker similarity against {reference}"] if reference else []
    part = verdict.voice
    lines += [f"    {line}" for line in part.why] if part else []
    notes = [n for p in [*verdict.tts.values(), *([part] if part else [])] for n in p.notes]
    lines += [f"  {note}" for note in dict.fromkeys(notes)]
    return lines


def stored_voice_figures(run: ModelRun) -> dict[str, Any]:
    baseline = run.against.baseline
    return (baseline.corpus if baseline else {}).get("tts_quality") or {}


VOICE_SPREADS = [*((f"dnsmos_{k}", f"DNSMOS {k.upper()}") for k in DNSMOS), ("similarity", "similarity")]


def voice_spreads(figures: dict[str, Any], stored: dict[str, Any]) -> list[str]:
    """Each corpus voice figure's mean and 5th percentile, now and in the baseline."""
    out = []
    for key, label in VOICE_SPREADS:
        now, then = figures.get(key) or {}, stored.get(key) or {}
        if now or then:
            out.append(
                f"{label} mean {pair(now.get('mean'), then.get('mean'), SIMILARITY)}, "
                f"p5 {pair(now.get('p5'), then.get('p5'), SIMILARITY)}"
            )
    return out


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
        f"  intelligibility: judge WER {number(wer)} over {len(judged)} utterances "
        f"(baseline {number(base)}), judged by {judged[0].judge}"
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
                pair(h["duration_s"], base.get("duration_s"), SECONDS),
                number(h["rms_dbfs"], DB),
                number(h["clipping"]),
                pair(h["lead_silence_s"], h["trail_silence_s"], SECONDS),
                pair(judge.wer if judge else None, base.get("judge_wer")),
                _latency(result, base),
                number(result.rtf, RTF),
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
        f"speech WER {number(corpus.wer)}, CER {number(corpus.cer)}; "
        f"words on non-speech {corpus.nonspeech_words}"
        f"{_rate(corpus.hallucination_rate)}; "
        f"latency {corpus.latency_s:.2f} s, RTF {number(corpus.rtf, RTF)}"
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
    rows: list[tuple[str, ...]] = [("model", "device", *(c.header for c in OVERVIEW))]
    for run in runs:
        if run.skip_reason or not (run.results or run.syntheses):
            continue
        tts = [r.rtf for r in run.syntheses.values()]
        figures = overview(run.measured_corpus(), tts, run.load_s, run.load_mb)
        rows.append((run.name, run.device, *cells(figures)))
    return rows


def comparison_lines(runs: list[ModelRun]) -> list[str]:
    rows = comparison_rows(runs)
    if len(rows) < 3:  # a comparison needs two runs
        return []
    return ["speechlab: comparison (corpus figures over the selected cases)", *_table(rows)]

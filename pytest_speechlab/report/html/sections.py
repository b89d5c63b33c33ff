"""The report's sections, each a function of one run's record (``gate.records``): header and banner, overview,
corpus checks, what changed, error analysis, slices, hallucination, word timestamps, cases,
robustness, text to speech and voice quality."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ...core.analysis import case_errors
from ...gate.checks import FAIL, FAILING, PASS
from ...gate.records import CaseRecord, RunRecord
from .. import columns as digits
from ..columns import OVERVIEW, cells, number, overview, pair
from .markup import (
    _FAIL_ROW,
    NOT_PASSING,
    _active,
    _cells,
    _delta,
    _e,
    _h2,
    _label,
    _latency,
    _share,
    _side,
    _table,
    _words,
    alignment,
)

BANNER_LINES = 20  # the banner lists this many parts not passing, then says how many more
TOP = 15  # entries of each ranking of the error analysis


def failures(runs: list[RunRecord]) -> list[str]:
    """Every part of the runs that is not a pass, one line each, for the banner: the lines of the
    run's verdict, as the terminal and the Markdown summary show them."""
    return [f"{_label(run)}: {line}" for run in _active(runs) if run.verdict for line in run.verdict.failures]


def _overall(run: RunRecord) -> str:
    """The run's verdict, as computed once when it was judged."""
    return run.overall or "-"


def _identity(identity: dict[str, Any] | None) -> str:
    """Whatever identity fields are there, compactly; the package list is left to the JSON."""
    if not identity:
        return "no identity"
    parts: list[str] = []
    for key, value in identity.items():
        if key == "packages" or value in (None, "", {}):
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        parts.append(f"{_e(key)} <code>{_e(value)}</code>")
    return "; ".join(parts)


def _header(runs: list[RunRecord], title: str) -> list[str]:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = [f"<h1>{_e(title)}</h1>", '<ul class="meta">', f"<li>generated {now}</li>"]
    machine = next((r.machine for r in runs if r.machine), None)
    if machine:
        simd = ", ".join(machine.get("simd") or []) or "none"
        lines.append(
            f"<li>machine: {_e(machine.get('cpu', '?'))} ({_e(machine.get('cpu_count', '?'))} cores), "
            f"SIMD {_e(simd)}, Python {_e(machine.get('python', '?'))}</li>"
        )
    for run in runs:
        if run.skipped:
            lines.append(f"<li><b>{_e(_label(run))}</b>: skipped</li>")
            continue
        base = f"; baseline <code>{_e(run.baseline)}</code>" if run.baseline else ""
        lines.append(f"<li><b>{_e(_label(run))}</b>: {_identity(run.identity)}{base}</li>")
        if run.verdict is None:
            continue
        verdict = run.verdict
        differ = verdict.identity_differences
        if differ:
            items = "".join(f"<li>{_e(line)}</li>" for line in differ)
            lines.append(f"<li><b>model differs from the baseline's</b>:<ul>{items}</ul></li>")
        for name, reason in verdict.not_gated.items():
            lines.append(f"<li>{_e(name)} not gated: {_e(reason)}</li>")
        beyond = verdict.beyond_the_limit
        if beyond:
            items = "".join(f"<li>{_e(line)}</li>" for line in beyond)
            lines.append(f"<li><b>beyond the limit without failing</b>:<ul>{items}</ul></li>")
        if verdict.notes:
            lines.append(f"<li>not measured: {_e('; '.join(verdict.notes))}</li>")
        unused = verdict.unused_baseline_entries
        if unused:
            lines.append(
                "<li>unused baseline entries (not in the manifest; <code>--update-baselines</code> "
                f"removes them): {_e(', '.join(unused))}</li>"
            )
    normalizers = dict.fromkeys(r.normalizer for r in runs if r.normalizer)
    if normalizers:
        lines.append(f"<li>normaliser: <code>{_e(', '.join(normalizers))}</code></li>")
    return [*lines, "</ul>"]


def _banner(runs: list[RunRecord], found: list[str]) -> list[str]:
    overall = {_overall(r) for r in _active(runs)}
    if not found and overall == {"UPDATED"}:
        return ['<div class="banner good">baselines recorded by this run (nothing was compared)</div>']
    if not found and overall <= {PASS}:
        return ['<div class="banner good">no regressions against the baselines</div>']
    if not found:
        words = ", ".join(sorted(overall))
        return [f'<div class="banner bad">verdict: {_e(words)}</div>']
    items = "".join(f"<li>{_e(f)}</li>" for f in found[:BANNER_LINES])
    if len(found) > BANNER_LINES:
        items += f"<li>... and {len(found) - BANNER_LINES} more: every case is in the table of cases</li>"
    noun = "part" if len(found) == 1 else "parts"
    words = ", ".join(sorted(overall))
    return [f'<div class="banner bad">{_e(words)}: {len(found)} {noun} not passing<ul>{items}</ul></div>']


def _overview(runs: list[RunRecord]) -> list[str]:
    head = ["model", "device", *(c.header for c in OVERVIEW), "verdict"]
    rows: list[str] = []
    for run in runs:
        name = [_e(run.model), _e(run.device)]
        if run.skipped:
            reason = f'<td class="l" colspan="{len(OVERVIEW) + 1}">skipped: {_e(run.skipped)}</td>'
            rows.append(f'<tr class="skip">{_cells(name, 2)}{reason}</tr>')
            continue
        tts = [c.rtf for c in run.tts_cases if c.rtf is not None]
        figures = cells(overview(run.corpus, tts, run.load_s, run.load_mb))
        verdict = _overall(run)
        css = _FAIL_ROW if verdict not in (PASS, "UPDATED") else ""
        rows.append(f"<tr{css}>{_cells([*name, *figures, _e(verdict)], 2)}</tr>")
    return _table(head, rows, left=2)


def _baseline_pairs(case: CaseRecord) -> list[list[str]] | None:
    """The alignment of the baseline's stored hypothesis against the case's reference."""
    before = (case.baseline or {}).get("hypothesis")
    if not isinstance(before, str):
        return None
    scored = case_errors(case.id, case.reference, before)
    return [[e.ref, e.hyp] for e in scored.edits]


def _word_errors(case: CaseRecord) -> int | None:
    words = case.errors.get("words")
    return sum(words.get(k, 0) for k in ("substitutions", "deletions", "insertions")) if words else None


def _verdict(case: CaseRecord) -> str:
    return case.verdict or "-"


def _alignment_cell(case: CaseRecord, failing: bool) -> str:
    """The case's alignment, folded; with the baseline's above it where the transcript changed."""
    now = case.errors.get("alignment")
    if now is None:
        return ""
    change, errors = case.change, _word_errors(case)
    before = _baseline_pairs(case) if change else None
    if not errors and before is None:
        return '<span class="note">no errors</span>'
    summary = f"{errors} word error{'s' * (errors != 1)}"
    if before is not None and change:
        summary += f", {change.get('errors_before')} in the baseline"
        body = (
            f'<div><span class="who">baseline</span>{alignment(before)}</div>'
            f'<div><span class="who">now</span>{alignment(now)}</div>'
        )
    else:
        body = alignment(now)
    opened = " open" if failing else ""
    return f'<details{opened}><summary>{summary}</summary><div class="al">{body}</div></details>'


def _case_table(run: RunRecord) -> list[str]:
    head = ["case", "WER", "baseline WER", "delta", "CER", "latency ms median / min", "RTF", "verdict"]
    head.append("alignment")
    rows: list[str] = []
    for case in run.cases:
        base = case.baseline or {}
        verdict = _verdict(case)
        failing = verdict in NOT_PASSING
        values = [
            _e(case.id),
            number(case.wer),
            number(base.get("wer")),
            _delta(case.wer, base.get("wer")),
            number(case.cer),
            _latency(case),
            number(case.rtf, digits.RTF),
            _e(verdict),
            _alignment_cell(case, failing),
        ]
        rows.append(f"<tr{_FAIL_ROW if failing else ''}>{_cells(values, last_left=True)}</tr>")
    out = [f"<h3>{_e(_label(run))}</h3>", *_table(head, rows, sortable=True, last_left=True)]
    if run.errors:
        items = "".join(f"<li><b>{_e(k)}</b>: {_e(v)}</li>" for k, v in run.errors.items())
        out.append(f'<div class="banner bad">errors<ul>{items}</ul></div>')
    return out


def _corpus_checks(run: RunRecord) -> list[str]:
    """Each corpus check: its outcome, why a figure beyond its limit still passes, and its line."""
    part = run.corpus.part if run.corpus else None
    rows = [
        f"<tr{_FAIL_ROW if c.outcome in FAILING else ''}>"
        + _cells([_e(c.metric), _e(c.outcome), _e(c.note), _e(c.line)], left=4)
        + "</tr>"
        for c in (part.checks if part else [])
    ]
    if not rows:
        return []
    return [f"<h3>{_e(_label(run))}</h3>", *_table(["check", "outcome", "why", "line"], rows, left=4)]


def _what_changed(run: RunRecord) -> list[str]:
    """What changed against the baseline: the counts, the words and pairs, the changed cases."""
    change = (run.analysis or {}).get("change")
    if not change or not change.get("changed_cases"):
        return []
    delta = change["errors_after"] - change["errors_before"]
    lines = [
        f"<h3>{_e(_label(run))}</h3>",
        f"<p>{change['changed_cases']} cases changed ({change['worse']} worse, {change['better']} better); "
        f"word errors {change['errors_before']} &rarr; {change['errors_after']} ({delta:+d})</p>",
        "<ul>",
        f"<li>newly wrong words: {_words(change.get('newly_wrong') or [])}</li>",
        f"<li>fixed words: {_words(change.get('fixed') or [])}</li>",
        f"<li>confusions appeared: {_words(change.get('confusions_appeared') or [])}</li>",
        f"<li>confusions gone: {_words(change.get('confusions_gone') or [])}</li>",
        "</ul>",
    ]
    changed = [(c, c.change) for c in run.cases if c.change]
    changed.sort(key=lambda pair: -(pair[1]["errors_after"] - pair[1]["errors_before"]))
    rows = []
    for case, c in changed[:TOP]:
        before = _baseline_pairs(case)
        then = alignment(before) if before is not None else _e(c.get("before"))
        now = alignment(case.errors.get("alignment") or [])
        cells = [
            _e(case.id),
            f"{c['errors_before']} &rarr; {c['errors_after']}",
            f'<div class="al"><div><span class="who">baseline</span>{then}</div>'
            f'<div><span class="who">now</span>{now}</div></div>',
        ]
        failing = case.verdict in NOT_PASSING
        rows.append(f"<tr{_FAIL_ROW if failing else ''}>{_cells(cells, last_left=True)}</tr>")
    more = (
        f'<p class="note">the {TOP} most worsened of {len(changed)}; every case is in the table of cases</p>'
    )
    table = _table(["case", "word errors", "alignment"], rows, last_left=True)
    return lines + table + ([more] if len(changed) > TOP else [])


def _error_analysis(run: RunRecord) -> list[str]:
    """The run's totals, its top confusions, most deleted and inserted words, per-word figures."""
    errors = (run.analysis or {}).get("errors")
    if not errors:
        return []
    counts = []
    for unit, key, rate in (("words", "words", "wer"), ("characters", "chars", "cer")):
        c = errors.get(key) or {}
        values = [unit, *(str(c.get(k, "-")) for k in ("hits", "substitutions", "deletions", "insertions"))]
        counts.append(f"<tr>{_cells([*values, number(errors.get(rate))])}</tr>")
    head = ["", "hits", "substitutions", "deletions", "insertions", "error rate"]
    ser = (
        f"<p>{errors.get('sentence_errors')} of {errors.get('cases')} sentences have an error "
        f"(sentence error rate {number(errors.get('sentence_error_rate'))})</p>"
    )
    confusions = [
        f"<tr>{_cells([_e(r), _e(h), str(n)], 2)}</tr>" for r, h, n in (errors.get("confusions") or [])[:TOP]
    ]
    deleted = [f"<tr>{_cells([_e(w), str(n)])}</tr>" for w, n in (errors.get("deletions") or [])[:TOP]]
    inserted = [f"<tr>{_cells([_e(w), str(n)])}</tr>" for w, n in (errors.get("insertions") or [])[:TOP]]
    stats = []
    keys = ("in_reference", "hits", "substituted", "deleted", "inserted", "confused_for", "errors")
    for w in (errors.get("word_stats") or [])[:TOP]:
        stats.append(f"<tr>{_cells([_e(w.get('word')), *(str(w.get(k, '-')) for k in keys)])}</tr>")
    per_word = ["word", "in references", "right", "substituted", "deleted", "inserted"]
    per_word += ["written instead of another", "errors"]
    return [
        f"<h3>{_e(_label(run))}</h3>",
        *_table(head, counts),
        ser,
        *_side("top confusions", _table(["reference", "heard as", "times"], confusions, left=2)),
        *_side("most deleted", _table(["word", "times"], deleted)),
        *_side("most inserted", _table(["word", "times"], inserted)),
        *_side("words with the most errors", _table(per_word, stats)),
    ]


def _slices(run: RunRecord) -> list[str]:
    rows = []
    for row in run.slices.figures.get("rows") or [] if run.slices else []:
        verdict = row.get("verdict")
        tested = bool(row.get("tested"))
        shown = (
            "not compared" if verdict is None else verdict if tested else f"{verdict} (untested: few cases)"
        )
        values = [
            f"<code>{_e(row.get('name'))}</code>",
            str(row.get("cases", "-")),
            str(row.get("words", "-")),
            number(row.get("wer")),
            number(row.get("wer_before")),
            _delta(row.get("wer"), row.get("wer_before")) if verdict is not None else "-",
            number(row.get("cer")),
            number(row.get("p_value")) if tested else "-",
            number(row.get("p_adjusted")) if tested else "-",
            _e(shown),
        ]
        rows.append(f"<tr{_FAIL_ROW if verdict == FAIL else ''}>{_cells(values, last_left=True)}</tr>")
    if not rows:
        return []
    head = ["slice", "cases", "words", "WER", "baseline WER", "delta", "CER", "p", "corrected p", "verdict"]
    return [f"<h3>{_e(_label(run))}</h3>", *_table(head, rows, sortable=True, last_left=True)]


def _hallucination(run: RunRecord) -> list[str]:
    if run.hallucination is None:
        return []
    found = run.hallucination.figures
    new = found.get("new_phrases") or {}
    rows = [
        f"<tr{_FAIL_ROW if phrase in new else ''}>"
        f"{_cells([_e(phrase), _e(', '.join(ids)), 'new' if phrase in new else 'known'], 3)}</tr>"
        for phrase, ids in (found.get("phrases") or {}).items()
    ]
    rows += [f"<tr>{_cells([_e(p), '', 'gone'], 3)}</tr>" for p in found.get("gone_phrases") or []]
    loops = found.get("loops") or {}
    new_loops = set(found.get("new_loops") or [])
    looped = ", ".join(
        f"<b>{_e(i)}</b>: &ldquo;{_e(lp.get('phrase'))}&rdquo; &times;{lp.get('repeats')}"
        + (" (new)" if i in new_loops else "")
        for i, lp in loops.items()
    )
    empty = found.get("empty_outputs") or {}
    return [
        f"<h3>{_e(_label(run))}</h3>",
        *_table(["phrase written over non-speech", "cases", "against the baseline"], rows, left=3),
        f"<p>repetition loops (long-form and non-speech cases): {looped or 'none'}</p>",
        f"<p>empty outputs on speech: {len(empty.get('empty') or [])} of {empty.get('cases', 0)}"
        + (f" ({_e(', '.join(empty.get('empty') or []))})" if empty.get("empty") else "")
        + "</p>",
    ]


def _timestamps(run: RunRecord) -> list[str]:
    """The aligned cases' word-timestamp errors beside their baseline's, pooled over the words
    of all of them; or why they were not measured."""
    pooled = run.timestamps or {}
    if pooled.get("not_measured"):
        return [f"<h3>{_e(_label(run))}</h3>", f'<p class="note">{_e(pooled["not_measured"])}</p>']
    rows = []
    for case in run.cases:
        t, base = case.timestamps, (case.baseline or {}).get("timestamps") or {}
        if not t:
            continue
        values = [
            _e(case.id),
            f"{t.get('matched')} of {t.get('reference_words')}",
            *(pair(t.get(k), base.get(k), 0) for k in ("start_mean_ms", "start_p95_ms")),
            *(pair(t.get(k), base.get(k), 0) for k in ("end_mean_ms", "end_p95_ms")),
            _share(t.get("within_100ms")),
            _e(_verdict(case)),
        ]
        failing = case.verdict in NOT_PASSING
        rows.append(f"<tr{_FAIL_ROW if failing else ''}>{_cells(values)}</tr>")
    if not rows:
        return []
    if "matched" in pooled:
        every = [
            "all (pooled over words)",
            f"{pooled['matched']} of {pooled.get('reference_words')}",
            *(
                number(pooled.get(k), 0)
                for k in ("start_mean_ms", "start_p95_ms", "end_mean_ms", "end_p95_ms")
            ),
            _share(pooled.get("within_100ms")),
            "",
        ]
        rows.append(f"<tr>{_cells(every)}</tr>")
    head = ["case", "words matched", "start error mean ms", "start p95 ms", "end error mean ms", "end p95 ms"]
    head += ["within 100 ms", "verdict"]
    note = '<p class="note">each error now / in the baseline; a mean may rise by the timestamp tolerance</p>'
    return [f"<h3>{_e(_label(run))}</h3>", note, *_table(head, rows)]


def _robustness_table(runs: list[RunRecord]) -> list[str]:
    head = ["model", "case", "perturbation", "clean WER", "WER", "limit", "verdict"]
    rows: list[str] = []
    for run in _active(runs):
        for e in run.robustness:
            passed = e.passed
            mark = PASS if passed else FAIL if passed is False else "-"
            values = [
                _e(_label(run)),
                _e(e.case),
                _e(e.description or e.id),
                number(e.clean_wer),
                number(e.wer),
                number(e.limit),
                mark,
            ]
            rows.append(f"<tr{_FAIL_ROW if passed is False else ''}>{_cells(values, 3)}</tr>")
    return ["<h2>Robustness</h2>", *_table(head, rows, left=3)] if rows else []


def _tts_table(runs: list[RunRecord]) -> list[str]:
    head = ["model", "case", "duration s", "RMS dBFS", "clipping", "lead / trail silence s"]
    head += ["judge WER / baseline", "latency ms median", "verdict"]
    rows: list[str] = []
    judges: dict[str, None] = {}  # ordered set
    for run in _active(runs):
        for case in run.tts_cases:
            verdict = case.verdict or "-"
            health = case.health
            silence = pair(health.get("lead_silence_s"), health.get("trail_silence_s"), digits.SECONDS)
            heard = case.judge_hypothesis
            judge = f"{number(case.judge_wer)} / {number((case.baseline or {}).get('judge_wer'))}"
            if heard is not None:
                judge = f'<span title="{_e(heard)}">{judge}</span>'
            if case.judge:
                judges[case.judge] = None
            values = [
                _e(_label(run)),
                _e(case.id),
                number(health.get("duration_s"), digits.SECONDS),
                number(health.get("rms_dbfs"), digits.DB),
                number(health.get("clipping"), 4),
                silence,
                judge,
                number(case.latency_ms.get("median"), digits.MS),
                _e(verdict),
            ]
            failing = verdict in NOT_PASSING
            rows.append(f"<tr{_FAIL_ROW if failing else ''}>{_cells(values, 2)}</tr>")
            if failing:
                said = f"<br>judge heard: {_e(heard)}" if heard is not None else ""
                rows.append(f'<tr class="text"><td colspan="9">text: {_e(case.text)}{said}</td></tr>')
    if not rows:
        return []
    note = f"<p>judge: {_e(', '.join(judges))} (hover a judge WER for what it heard)</p>" if judges else ""
    return ["<h2>Text to speech</h2>", note, *_table(head, rows, left=2)]


def _voice_table(runs: list[RunRecord]) -> list[str]:
    """Each utterance's voice figures beside its baseline's, and their spread over the corpus."""
    rows: list[str] = []
    for run in _active(runs):
        for case in run.tts_cases:
            q, base = case.quality, case.baseline or {}
            if not q:
                continue
            now, then = q.get("dnsmos") or {}, base.get("dnsmos") or {}
            values = [
                _e(_label(run)),
                _e(case.id),
                *(pair(now.get(k), then.get(k), digits.MOS) for k in ("sig", "bak", "ovrl", "p808")),
                pair(q.get("similarity"), base.get("similarity"), digits.SIMILARITY),
                pair(q.get("longest_silence_s"), base.get("longest_silence_s"), digits.SECONDS),
                pair(q.get("words_per_s"), base.get("words_per_s"), digits.PER_SECOND),
                f"{(q.get('pitch') or {}).get('jumps', '-')} / {(base.get('pitch') or {}).get('jumps', '-')}",
                _e(case.verdict or "-"),
            ]
            rows.append(f"<tr{_FAIL_ROW if case.verdict in NOT_PASSING else ''}>{_cells(values, 2)}</tr>")
    if not rows:
        return []
    head = ["model", "case", "DNSMOS SIG", "BAK", "OVRL", "P.808", "speaker similarity", "longest silence s"]
    head += ["words/s", "pitch jumps", "verdict"]
    out = [_h2("Voice quality"), '<p class="note">each figure now / in the baseline</p>']
    out += _table(head, rows, left=2, sortable=True)
    for run in _active(runs):
        if run.tts_corpus is None:
            continue
        corpus = run.tts_corpus.figures
        stored = corpus.get("baseline") or {}
        spreads = []
        for key, label in [*((f"dnsmos_{k}", f"DNSMOS {k.upper()}") for k in ("sig", "bak", "ovrl", "p808")),
                           ("similarity", "speaker similarity")]:  # fmt: skip
            now, then = corpus.get(key) or {}, stored.get(key) or {}
            if now or then:
                cells = [
                    label,
                    pair(now.get("mean"), then.get("mean"), digits.SIMILARITY),
                    pair(now.get("p5"), then.get("p5"), digits.SIMILARITY),
                ]
                spreads.append(f"<tr>{_cells(cells)}</tr>")
        out += [f"<h3>{_e(_label(run))}: over {corpus.get('utterances', '?')} utterances</h3>"]
        out += _table(["figure", "mean now / baseline", "5th percentile now / baseline"], spreads)
        notes = run.tts_corpus.part.notes if run.tts_corpus.part else []
        out += [f'<p class="note">{_e(n)}</p>' for n in notes]
    return out

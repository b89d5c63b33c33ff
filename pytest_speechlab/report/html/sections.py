"""The report's sections, each a function of one run's results JSON: header and banner, overview,
corpus checks, what changed, error analysis, slices, hallucination, word timestamps, cases,
robustness, text to speech and voice quality."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ...core.analysis import case_errors
from ...gate.checks import FAIL, FAILING, PASS
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


def failures(runs: list[dict[str, Any]]) -> list[str]:
    """Every part of the runs that is not a pass, one line each, for the banner: the lines of the
    run's verdict, as the terminal and the Markdown summary show them."""
    found: list[str] = []
    for run in _active(runs):
        verdict = run.get("verdict") or {}
        found += [f"{_label(run)}: {line}" for line in verdict.get("failures") or []]
    return found


def _overall(run: dict[str, Any]) -> str:
    """The run's verdict, as computed once when it was judged."""
    return str((run.get("verdict") or {}).get("overall") or "-")


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


def _header(runs: list[dict[str, Any]], title: str) -> list[str]:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = [f"<h1>{_e(title)}</h1>", '<ul class="meta">', f"<li>generated {now}</li>"]
    machine = next((r["machine"] for r in runs if r.get("machine")), None)
    if machine:
        simd = ", ".join(machine.get("simd") or []) or "none"
        lines.append(
            f"<li>machine: {_e(machine.get('cpu', '?'))} ({_e(machine.get('cpu_count', '?'))} cores), "
            f"SIMD {_e(simd)}, Python {_e(machine.get('python', '?'))}</li>"
        )
    for run in runs:
        if run.get("skipped"):
            lines.append(f"<li><b>{_e(_label(run))}</b>: skipped</li>")
            continue
        base = f"; baseline <code>{_e(run['baseline'])}</code>" if run.get("baseline") else ""
        lines.append(f"<li><b>{_e(_label(run))}</b>: {_identity(run.get('identity'))}{base}</li>")
        verdict = run.get("verdict") or {}
        differ = verdict.get("identity_differences") or []
        if differ:
            items = "".join(f"<li>{_e(line)}</li>" for line in differ)
            lines.append(f"<li><b>model differs from the baseline's</b>:<ul>{items}</ul></li>")
        for name, reason in (verdict.get("not_gated") or {}).items():
            lines.append(f"<li>{_e(name)} not gated: {_e(reason)}</li>")
        beyond = verdict.get("beyond_the_limit") or []
        if beyond:
            items = "".join(f"<li>{_e(line)}</li>" for line in beyond)
            lines.append(f"<li><b>beyond the limit without failing</b>:<ul>{items}</ul></li>")
        notes = verdict.get("notes") or []
        if notes:
            lines.append(f"<li>not measured: {_e('; '.join(notes))}</li>")
        unused = verdict.get("unused_baseline_entries") or []
        if unused:
            lines.append(
                "<li>unused baseline entries (not in the manifest; <code>--update-baselines</code> "
                f"removes them): {_e(', '.join(unused))}</li>"
            )
    normalizers = dict.fromkeys(r["normalizer"] for r in runs if r.get("normalizer"))
    if normalizers:
        lines.append(f"<li>normaliser: <code>{_e(', '.join(normalizers))}</code></li>")
    return [*lines, "</ul>"]


def _banner(runs: list[dict[str, Any]], found: list[str]) -> list[str]:
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


def _overview(runs: list[dict[str, Any]]) -> list[str]:
    head = ["model", "device", *(c.header for c in OVERVIEW), "verdict"]
    rows: list[str] = []
    for run in runs:
        name = [_e(run.get("model", "?")), _e(run.get("device", "?"))]
        if run.get("skipped"):
            reason = f'<td class="l" colspan="{len(OVERVIEW) + 1}">skipped: {_e(run["skipped"])}</td>'
            rows.append(f'<tr class="skip">{_cells(name, 2)}{reason}</tr>')
            continue
        tts = [c["rtf"] for c in run.get("tts_cases") or [] if isinstance(c.get("rtf"), int | float)]
        figures = cells(overview(run.get("corpus"), tts, run.get("load_s"), run.get("load_mb")))
        verdict = _overall(run)
        css = _FAIL_ROW if verdict not in (PASS, "UPDATED") else ""
        rows.append(f"<tr{css}>{_cells([*name, *figures, _e(verdict)], 2)}</tr>")
    return _table(head, rows, left=2)


def _baseline_pairs(case: dict[str, Any]) -> list[list[str]] | None:
    """The alignment of the baseline's stored hypothesis against the case's reference."""
    before = (case.get("baseline") or {}).get("hypothesis")
    if not isinstance(before, str):
        return None
    scored = case_errors(str(case.get("id")), str(case.get("reference") or ""), before)
    return [[e.ref, e.hyp] for e in scored.edits]


def _word_errors(case: dict[str, Any]) -> int | None:
    words = (case.get("errors") or {}).get("words")
    return sum(words.get(k, 0) for k in ("substitutions", "deletions", "insertions")) if words else None


def _alignment_cell(case: dict[str, Any], failing: bool) -> str:
    """The case's alignment, folded; with the baseline's above it where the transcript changed."""
    now = (case.get("errors") or {}).get("alignment")
    if now is None:
        return ""
    change, errors = case.get("change"), _word_errors(case)
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


def _case_table(run: dict[str, Any]) -> list[str]:
    head = ["case", "WER", "baseline WER", "delta", "CER", "latency ms median / min", "digits.RTF", "verdict"]
    head.append("alignment")
    rows: list[str] = []
    for case in run.get("cases") or []:
        base = case.get("baseline") or {}
        verdict = case.get("verdict", "-")
        failing = verdict in NOT_PASSING
        values = [
            _e(case.get("id")),
            number(case.get("wer")),
            number(base.get("wer")),
            _delta(case.get("wer"), base.get("wer")),
            number(case.get("cer")),
            _latency(case),
            number(case.get("rtf"), digits.RTF),
            _e(verdict),
            _alignment_cell(case, failing),
        ]
        rows.append(f"<tr{_FAIL_ROW if failing else ''}>{_cells(values, last_left=True)}</tr>")
    out = [f"<h3>{_e(_label(run))}</h3>", *_table(head, rows, sortable=True, last_left=True)]
    errors = run.get("errors") or {}
    if errors:
        items = "".join(f"<li><b>{_e(k)}</b>: {_e(v)}</li>" for k, v in errors.items())
        out.append(f'<div class="banner bad">errors<ul>{items}</ul></div>')
    return out


def _corpus_checks(run: dict[str, Any]) -> list[str]:
    """Each corpus check: its outcome, why a figure beyond its limit still passes, and its line."""
    outcomes = (run.get("corpus") or {}).get("outcomes") or []
    rows = [
        f"<tr{_FAIL_ROW if o['outcome'] in FAILING else ''}>"
        + _cells([_e(o["metric"]), _e(o["outcome"]), _e(o["note"]), _e(o["line"])], left=4)
        + "</tr>"
        for o in outcomes
    ]
    if not rows:
        return []
    return [f"<h3>{_e(_label(run))}</h3>", *_table(["check", "outcome", "why", "line"], rows, left=4)]


def _what_changed(run: dict[str, Any]) -> list[str]:
    """What changed against the baseline: the counts, the words and pairs, the changed cases."""
    change = (run.get("analysis") or {}).get("change")
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
    changed = [c for c in run.get("cases") or [] if c.get("change")]
    changed.sort(key=lambda c: -(c["change"]["errors_after"] - c["change"]["errors_before"]))
    rows = []
    for case in changed[:TOP]:
        c, before = case["change"], _baseline_pairs(case)
        then = alignment(before) if before is not None else _e(c.get("before"))
        now = alignment((case.get("errors") or {}).get("alignment") or [])
        cells = [
            _e(case.get("id")),
            f"{c['errors_before']} &rarr; {c['errors_after']}",
            f'<div class="al"><div><span class="who">baseline</span>{then}</div>'
            f'<div><span class="who">now</span>{now}</div></div>',
        ]
        failing = case.get("verdict") in NOT_PASSING
        rows.append(f"<tr{_FAIL_ROW if failing else ''}>{_cells(cells, last_left=True)}</tr>")
    more = (
        f'<p class="note">the {TOP} most worsened of {len(changed)}; every case is in the table of cases</p>'
    )
    table = _table(["case", "word errors", "alignment"], rows, last_left=True)
    return lines + table + ([more] if len(changed) > TOP else [])


def _error_analysis(run: dict[str, Any]) -> list[str]:
    """The run's totals, its top confusions, most deleted and inserted words, per-word figures."""
    errors = (run.get("analysis") or {}).get("errors")
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


def _slices(run: dict[str, Any]) -> list[str]:
    slices = run.get("slices") or {}
    rows = []
    for row in slices.get("rows") or []:
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


def _hallucination(run: dict[str, Any]) -> list[str]:
    found = run.get("hallucination")
    if not found:
        return []
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


def _timestamps(run: dict[str, Any]) -> list[str]:
    """The aligned cases' word-timestamp errors beside their baseline's, pooled over the words
    of all of them; or why they were not measured."""
    pooled = run.get("timestamps") or {}
    if pooled.get("not_measured"):
        return [f"<h3>{_e(_label(run))}</h3>", f'<p class="note">{_e(pooled["not_measured"])}</p>']
    rows = []
    for case in run.get("cases") or []:
        t, base = case.get("timestamps"), (case.get("baseline") or {}).get("timestamps") or {}
        if not t:
            continue
        values = [
            _e(case.get("id")),
            f"{t.get('matched')} of {t.get('reference_words')}",
            *(pair(t.get(k), base.get(k), 0) for k in ("start_mean_ms", "start_p95_ms")),
            *(pair(t.get(k), base.get(k), 0) for k in ("end_mean_ms", "end_p95_ms")),
            _share(t.get("within_100ms")),
            _e(case.get("verdict", "-")),
        ]
        failing = case.get("verdict") in NOT_PASSING
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


def _robustness_table(runs: list[dict[str, Any]]) -> list[str]:
    head = ["model", "case", "perturbation", "clean WER", "WER", "limit", "verdict"]
    rows: list[str] = []
    for run in _active(runs):
        for e in run.get("robustness") or []:
            passed = e.get("passed")
            mark = PASS if passed else FAIL if passed is False else "-"
            values = [
                _e(_label(run)),
                _e(e.get("case", "?")),
                _e(e.get("description") or e.get("id") or e.get("kind", "?")),
                number(e.get("clean_wer")),
                number(e.get("wer")),
                number(e.get("limit")),
                mark,
            ]
            rows.append(f"<tr{_FAIL_ROW if passed is False else ''}>{_cells(values, 3)}</tr>")
    return ["<h2>Robustness</h2>", *_table(head, rows, left=3)] if rows else []


def _tts_table(runs: list[dict[str, Any]]) -> list[str]:
    head = ["model", "case", "duration s", "RMS dBFS", "clipping", "lead / trail silence s"]
    head += ["judge WER / baseline", "latency ms median", "verdict"]
    rows: list[str] = []
    judges: dict[str, None] = {}  # ordered set
    for run in _active(runs):
        for case in run.get("tts_cases") or []:
            verdict = case.get("verdict", "-")
            silence = pair(case.get("lead_silence_s"), case.get("trail_silence_s"), digits.SECONDS)
            heard = case.get("judge_hypothesis")
            judge = (
                f"{number(case.get('judge_wer'))} / {number((case.get('baseline') or {}).get('judge_wer'))}"
            )
            if heard is not None:
                judge = f'<span title="{_e(heard)}">{judge}</span>'
            if case.get("judge"):
                judges[str(case["judge"])] = None
            values = [
                _e(_label(run)),
                _e(case.get("id")),
                number(case.get("duration_s"), digits.SECONDS),
                number(case.get("rms_dbfs"), digits.DB),
                number(case.get("clipping"), 4),
                silence,
                judge,
                number((case.get("latency_ms") or {}).get("median"), digits.MS),
                _e(verdict),
            ]
            failing = verdict in NOT_PASSING
            rows.append(f"<tr{_FAIL_ROW if failing else ''}>{_cells(values, 2)}</tr>")
            if failing:
                said = f"<br>judge heard: {_e(heard)}" if heard is not None else ""
                rows.append(
                    f'<tr class="text"><td colspan="9">text: {_e(case.get("text", ""))}{said}</td></tr>'
                )
    if not rows:
        return []
    note = f"<p>judge: {_e(', '.join(judges))} (hover a judge WER for what it heard)</p>" if judges else ""
    return ["<h2>Text to speech</h2>", note, *_table(head, rows, left=2)]


def _voice_table(runs: list[dict[str, Any]]) -> list[str]:
    """Each utterance's voice figures beside its baseline's, and their spread over the corpus."""
    rows: list[str] = []
    for run in _active(runs):
        for case in run.get("tts_cases") or []:
            q, base = case.get("quality"), case.get("baseline") or {}
            if not q:
                continue
            now, then = q.get("dnsmos") or {}, base.get("dnsmos") or {}
            values = [
                _e(_label(run)),
                _e(case.get("id")),
                *(pair(now.get(k), then.get(k), digits.MOS) for k in ("sig", "bak", "ovrl", "p808")),
                pair(q.get("similarity"), base.get("similarity"), digits.SIMILARITY),
                pair(q.get("longest_silence_s"), base.get("longest_silence_s"), digits.SECONDS),
                pair(q.get("words_per_s"), base.get("words_per_s"), digits.PER_SECOND),
                f"{(q.get('pitch') or {}).get('jumps', '-')} / {(base.get('pitch') or {}).get('jumps', '-')}",
                _e(case.get("verdict", "-")),
            ]
            rows.append(
                f"<tr{_FAIL_ROW if case.get('verdict') in NOT_PASSING else ''}>{_cells(values, 2)}</tr>"
            )
    if not rows:
        return []
    head = ["model", "case", "DNSMOS SIG", "BAK", "OVRL", "P.808", "speaker similarity", "longest silence s"]
    head += ["words/s", "pitch jumps", "verdict"]
    out = [_h2("Voice quality"), '<p class="note">each figure now / in the baseline</p>']
    out += _table(head, rows, left=2, sortable=True)
    for run in _active(runs):
        corpus = run.get("tts_corpus")
        if not corpus:
            continue
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
        notes = corpus.get("notes") or []
        out += [f'<p class="note">{_e(n)}</p>' for n in notes]
    return out

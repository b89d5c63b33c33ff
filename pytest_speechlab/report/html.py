"""The HTML report (``--speech-report``): one self-contained page a reviewer opens to see what changed.

The page is built from the results JSON (``results.run_json``), so it can be rendered again from a
saved results file. It embeds everything (CSS inline, plots as base64 PNG), so it can be attached
to a CI job or mailed and still open offline. Keys added to the results later (repeated latency
runs, baselines per case, robustness, the TTS judge, the error analysis, slices, hallucination and
voice figures) are optional: a section without data is left out rather than shown empty.

At thousands of cases it stays usable: the WER plot shows the worst ``PLOT_CASES`` cases (and
says so), and the tables of cases and slices sort by any column and page through ``PAGE_ROWS``
rows at a time (a few lines of inline script; without it every row shows). Each case has its
word alignment with the errors marked, and beside it the baseline's where the transcript changed.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.analysis import case_errors
from ..gate.checks import FAIL, FAILING, INCONCLUSIVE, PASS
from ..gate.verdicts import PRECEDENCE
from ..store.atomic import write_atomic

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_FAIL_ROW = ' class="fail"'
NOT_PASSING = FAILING | {INCONCLUSIVE}
DPI = 100
WER_TOP = 1.5  # WER axis limit: non-speech cases reach 100+ and would flatten every other bar
PLOT_CASES = 60  # the WER plot's bars: beyond this many cases, the worst ones
PAGE_ROWS = 100  # rows per page of the long tables
BANNER_LINES = 20  # the banner lists this many parts not passing, then says how many more
TOP = 15  # entries of each ranking of the error analysis
RANK = {verdict: i for i, verdict in enumerate(PRECEDENCE)}

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:1.5em;color:#222}
h1{margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
.meta{color:#555;font-size:.9em}.meta li{margin:.1em 0}code{font-size:.9em}
.banner{padding:.7em 1em;border-radius:4px;margin:1em 0;font-weight:600}
.banner ul{font-weight:400;margin:.4em 0 0}
.bad{background:#fdecea;border:1px solid #c62828;color:#8e1c1c}
.good{background:#e8f5e9;border:1px solid #2e7d32;color:#1b5e20}
table{border-collapse:collapse;margin:.5em 0;font-size:.88em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}
tr.fail td{background:#fdecea}tr.skip td{color:#888}
tr.text td{background:#fff8f7;text-align:left;font-family:ui-monospace,monospace;font-size:.95em}
.worse{color:#c62828}.better{color:#2e7d32}
figure{display:inline-block;margin:.5em 1em .5em 0;vertical-align:top;max-width:100%}
figure img{max-width:100%;height:auto}
figcaption{font-size:.85em;color:#555}
.al{line-height:2.3;text-align:left;font-family:ui-monospace,monospace;font-size:.92em;max-width:60em}
.al b{display:inline-block;vertical-align:top;line-height:1.15;text-align:center;font-weight:400;
padding:0 .15em;border-radius:3px}
.al b em{display:block;font-style:normal;font-size:.9em}
.al .s{background:#fff3e0}.al .s em{color:#e65100}
.al .d{background:#fdecea;color:#b71c1c;text-decoration:line-through}.al .d em{text-decoration:none}
.al .n{background:#e3f2fd}.al .n em{color:#0d47a1}
.al span.who{display:inline-block;width:5.5em;color:#777;font-family:system-ui,sans-serif}
details summary{cursor:pointer;color:#1a5fb4}
.side{display:inline-block;vertical-align:top;margin-right:2em}
.pager{margin:.4em 0;font-size:.88em;color:#444}.pager button{margin-right:.4em}
th.sort{cursor:pointer}th.sort:after{content:" \\2195";color:#aaa}
.note{color:#555;font-size:.9em}
"""

# Sorting and paging of the long tables: a table with class "sortable" sorts by the column whose
# header is clicked (numbers as numbers); one with data-page="N" shows N rows at a time, with a
# filter for the rows not passing. Without script, every row shows.
SCRIPT = """
document.querySelectorAll("table[data-page]").forEach(function(t){
  var size=+t.dataset.page,page=0,only=false,bar=document.createElement("div");bar.className="pager";
  t.parentNode.insertBefore(bar,t);
  function rows(){return Array.prototype.slice.call(t.rows,1)}
  function show(){
    var all=rows(),kept=all.filter(function(r){return !only||r.classList.contains("fail")});
    var last=Math.max(0,Math.ceil(kept.length/size)-1);page=Math.min(page,last);
    all.forEach(function(r){r.style.display="none"});
    kept.slice(page*size,(page+1)*size).forEach(function(r){r.style.display=""});
    bar.innerHTML="rows "+(kept.length?page*size+1:0)+"-"+Math.min((page+1)*size,kept.length)+" of "+
      kept.length+" <button>previous</button><button>next</button><label><input type=checkbox"+
      (only?" checked":"")+"> only those not passing</label>";
    var b=bar.querySelectorAll("button");
    b[0].onclick=function(){page=Math.max(0,page-1);show()};b[1].onclick=function(){page+=1;show()};
    bar.querySelector("input").onchange=function(e){only=e.target.checked;page=0;show()};
  }
  t.show=show;show();
});
document.querySelectorAll("table.sortable").forEach(function(t){
  Array.prototype.forEach.call(t.rows[0].cells,function(th,i){
    th.className+=" sort";th.title="sort by this column";
    th.onclick=function(){
      var up=th.dataset.dir!=="up";th.dataset.dir=up?"up":"down";
      var body=t.tBodies[0],rows=Array.prototype.slice.call(t.rows,1);
      function key(r){var c=r.cells[i],v=c.dataset.v!==undefined?c.dataset.v:c.textContent;
        var n=parseFloat(v);return isNaN(n)?v:n}
      rows.sort(function(a,b){var x=key(a),y=key(b);
        var d=(typeof x==="number"&&typeof y==="number")?x-y:String(x).localeCompare(String(y));
        return up?d:-d});
      rows.forEach(function(r){body.appendChild(r)});if(t.show)t.show();
    };
  });
});
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _num(value: Any, digits: int = 4, sign: str = "") -> str:
    """A figure for a table cell; ``-`` where the data has none."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    return f"{value:{sign}.{digits}f}"


def _active(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in runs if not r.get("skipped")]


def _label(run: dict[str, Any]) -> str:
    return f"{run.get('model', '?')} ({run.get('device', '?')})"


def _plain(text: str) -> str:
    """Text for matplotlib: a ``$`` in a case id must not start mathtext."""
    return text.replace("$", r"\$")


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


# --- header, banner, overview ---------------------------------------------------------------------


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


def _table(
    head: Iterable[str], rows: Iterable[str], left: int = 1, sortable: bool = False, last_left: bool = False
) -> list[str]:
    """A table whose first ``left`` columns (names) are left-aligned, the rest (figures) right but
    the last with ``last_left`` (text); ``sortable`` by any column, and paged when it has more
    than ``PAGE_ROWS`` rows."""
    head = list(head)
    aligned = [i < left or (last_left and i == len(head) - 1) for i in range(len(head))]
    cells = "".join(
        f'<th class="l">{h}</th>' if a else f"<th>{h}</th>" for h, a in zip(head, aligned, strict=True)
    )
    rows = list(rows)
    attrs = ' class="sortable"' if sortable else ""
    attrs += f' data-page="{PAGE_ROWS}"' if sortable and len(rows) > PAGE_ROWS else ""
    return [f"<table{attrs}>", f"<tr>{cells}</tr>", *rows, "</table>"]


def _cells(values: Iterable[str], left: int = 1, last_left: bool = False) -> str:
    """Table cells: the first ``left`` left-aligned (names), and the last with ``last_left`` (text)."""
    values = list(values)
    aligned = [i < left or (last_left and i == len(values) - 1) for i in range(len(values))]
    return "".join(
        f'<td class="l">{v}</td>' if a else f"<td>{v}</td>" for v, a in zip(values, aligned, strict=True)
    )


def _overview(runs: list[dict[str, Any]]) -> list[str]:
    head = [
        "model",
        "device",
        "WER",
        "CER",
        "non-speech words/s",
        "RTF",
        "RTFx",
        "load s",
        "load MB",
        "verdict",
    ]
    rows: list[str] = []
    for run in runs:
        name = [_e(run.get("model", "?")), _e(run.get("device", "?"))]
        if run.get("skipped"):
            reason = f'<td class="l" colspan="8">skipped: {_e(run["skipped"])}</td>'
            rows.append(f'<tr class="skip">{_cells(name, 2)}{reason}</tr>')
            continue
        corpus = run.get("corpus") or {}
        rtf = corpus.get("rtf")
        rtfx = 1 / rtf if isinstance(rtf, int | float) and rtf > 0 else None
        verdict = _overall(run)
        figures = [
            _num(corpus.get("wer")),
            _num(corpus.get("cer")),
            _num(corpus.get("hallucination_rate"), 2),
            _num(rtf, 3),
            _num(rtfx, 1),
            _num(run.get("load_s"), 2),
            _num(run.get("load_mb"), 0),
            _e(verdict),
        ]
        css = _FAIL_ROW if verdict not in (PASS, "UPDATED") else ""
        rows.append(f"<tr{css}>{_cells(name + figures, 2)}</tr>")
    return _table(head, rows, left=2)


# --- plots ----------------------------------------------------------------------------------------


def _figure(width: float, height: float) -> tuple[Figure, Axes]:
    """A figure outside pyplot, so rendering leaves no global state (and needs no display)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.grid(True, axis="y", alpha=0.3)
    return fig, ax


def _img(fig: Figure, alt: str, caption: str) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    fig.clear()
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return (
        f'<figure><img alt="{_e(alt)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _case_ids(runs: list[dict[str, Any]], key: str = "cases") -> list[str]:
    return list(dict.fromkeys(str(c.get("id")) for r in runs for c in r.get(key) or []))


def worst_cases(runs: list[dict[str, Any]], limit: int = PLOT_CASES) -> list[str]:
    """Every case id in order, or past ``limit`` the ``limit`` worst over the runs: those not
    passing first (in the verdicts' order of precedence), then the highest WER."""
    ids = _case_ids(runs)
    if len(ids) <= limit:
        return ids
    rank: dict[str, tuple[int, float]] = {}
    for run in runs:
        for case in run.get("cases") or []:
            wer = case.get("wer") if isinstance(case.get("wer"), int | float) else -1.0
            key = (RANK.get(str(case.get("verdict")), len(RANK)), -float(wer))
            rank[str(case.get("id"))] = min(rank.get(str(case.get("id")), key), key)
    return sorted(ids, key=lambda i: rank.get(i, (len(RANK), 1.0)))[:limit]


def plot_wer(runs: list[dict[str, Any]]) -> Figure | None:
    """WER per case, a bar per run, the baseline as a black tick: a regression stands out as a
    bar above its tick. Bars beyond the axis (non-speech cases) are cut and labelled. Past
    ``PLOT_CASES`` cases, the worst of them, worst first."""
    runs = [r for r in _active(runs) if r.get("cases")]
    ids = worst_cases(runs)
    if not ids:
        return None
    index = {case_id: i for i, case_id in enumerate(ids)}
    width = 0.8 / len(runs)
    values = [c["wer"] for r in runs for c in r["cases"] if isinstance(c.get("wer"), int | float)]
    top = min(max([*values, 0.1]) * 1.1, WER_TOP)
    fig, ax = _figure(min(16.0, max(6.0, 0.3 * len(ids) * len(runs) + 2)), 3.6)
    marked = False
    for k, (run, color) in enumerate(zip(runs, _colors(len(runs)), strict=True)):
        xs, ys, bx, by = [], [], [], []
        for case in run["cases"]:
            if str(case.get("id")) not in index:
                continue
            x = index[str(case.get("id"))] - 0.4 + width * (k + 0.5)
            wer = case.get("wer")
            if isinstance(wer, int | float):
                xs.append(x)
                ys.append(min(wer, top))
                if wer > top:
                    ax.text(
                        x,
                        top * 0.98,
                        f"{wer:.3g}",
                        rotation=90,
                        ha="center",
                        va="top",
                        fontsize=7,
                        color="white",
                    )
            base = (case.get("baseline") or {}).get("wer")
            if isinstance(base, int | float):
                bx.append(x)
                by.append(min(base, top))
        ax.bar(xs, ys, width=width, color=color, label=_plain(_label(run)))
        if bx:
            ax.plot(
                bx,
                by,
                linestyle="none",
                marker="_",
                markersize=max(4.0, 40 * width),
                mew=2,
                color="black",
                label=None if marked else "baseline",
            )
            marked = True
    ax.set_xticks(range(len(ids)), [_plain(i) for i in ids], rotation=90, fontsize=7)
    ax.set_xlim(-0.6, len(ids) - 0.4)
    ax.set_ylim(0, top)
    ax.set_ylabel("WER")
    ax.legend(fontsize=7, loc="upper left")
    return fig


def plot_latency(runs: list[dict[str, Any]]) -> Figure | None:
    """The spread of repeated timings per case and run: whether a latency change is beyond
    the run-to-run noise."""
    runs = _active(runs)
    repeated = {str(c.get("id")) for r in runs for c in r.get("cases") or [] if len(_timings(c)) > 1}
    ids = [i for i in _case_ids(runs) if i in repeated]
    if not ids:
        return None
    index = {case_id: i for i, case_id in enumerate(ids)}
    timed = [r for r in runs if any(len(_timings(c)) > 1 for c in r.get("cases") or [])]
    width = 0.8 / len(timed)
    fig, ax = _figure(min(16.0, max(5.0, 0.5 * len(ids) * len(timed) + 2)), 3.4)
    handles: list[tuple[Any, str]] = []
    for k, (run, color) in enumerate(zip(timed, _colors(len(timed)), strict=True)):
        data, positions = [], []
        for case in run.get("cases") or []:
            times = _timings(case)
            if len(times) > 1 and str(case.get("id")) in ids:
                data.append(times)
                positions.append(index[str(case.get("id"))] - 0.4 + width * (k + 0.5))
        if data:
            parts = ax.boxplot(
                data, positions=positions, widths=width * 0.8, patch_artist=True, manage_ticks=False
            )
            for box in parts["boxes"]:
                box.set_facecolor(color)
            handles.append((parts["boxes"][0], _plain(_label(run))))
    ax.set_xticks(range(len(ids)), [_plain(i) for i in ids], rotation=90, fontsize=7)
    ax.set_xlim(-0.6, len(ids) - 0.4)
    ax.set_ylabel("latency ms")
    ax.legend([h for h, _ in handles], [n for _, n in handles], fontsize=7)
    return fig


def _timings(case: dict[str, Any]) -> list[float]:
    times = (case.get("latency_ms") or {}).get("all") or []
    return [t for t in times if isinstance(t, int | float)]


def plot_wer_rtf(runs: list[dict[str, Any]]) -> Figure | None:
    """Accuracy against speed of every model and device: the trade-off in one picture."""
    points = [
        (_label(r), r["corpus"]["rtf"], r["corpus"]["wer"])
        for r in _active(runs)
        if isinstance((r.get("corpus") or {}).get("rtf"), int | float)
        and isinstance(r["corpus"].get("wer"), int | float)
    ]
    if not points:
        return None
    names: dict[tuple[float, float], list[str]] = {}  # runs with the same figures share one label
    for name, rtf, wer in points:
        names.setdefault((rtf, wer), []).append(name)
    fig, ax = _figure(5.0, 3.6)
    for ((rtf, wer), together), color in zip(names.items(), _colors(len(names)), strict=True):
        ax.scatter([rtf], [wer], color=color, s=40, zorder=3)
        ax.annotate(
            _plain("\n".join(together)), (rtf, wer), xytext=(5, 4), textcoords="offset points", fontsize=7
        )
    rtfs = [p[1] for p in points]
    if min(rtfs) > 0 and max(rtfs) / min(rtfs) > 10:
        ax.set_xscale("log")
    ax.margins(0.25)
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_xlabel("RTF (lower is faster)")
    ax.set_ylabel("corpus WER")
    return fig


def _noise(runs: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Noise entries by (run, case), those with an SNR and a WER: the fixed sweep's (``recorded``)
    when the run has one, so that every curve has the same points, else every noise draw."""
    curves: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run in _active(runs):
        entries = run.get("robustness") or []
        entries = [e for e in entries if e.get("recorded")] or entries
        for entry in entries:
            snr = (entry.get("params") or {}).get("snr_db")
            if (
                entry.get("kind") == "noise"
                and isinstance(snr, int | float)
                and isinstance(entry.get("wer"), int | float)
            ):
                curves.setdefault((_label(run), str(entry.get("case"))), []).append(entry)
    return curves


def plot_robustness(runs: list[dict[str, Any]]) -> Figure | None:
    """WER as noise rises, clean at the left: where each model starts to break down."""
    curves = _noise(runs)
    if not curves:
        return None
    snrs = sorted({e["params"]["snr_db"] for entries in curves.values() for e in entries}, reverse=True)
    x_of = {snr: i + 1 for i, snr in enumerate(snrs)}
    cases = list(dict.fromkeys(case for _, case in curves))
    names = list(dict.fromkeys(name for name, _ in curves))
    color = dict(zip(cases, _colors(len(cases)), strict=True))  # colour per case, line style per run
    style = {name: ("-", "--", ":", "-.")[i % 4] for i, name in enumerate(names)}
    fig, ax = _figure(max(5.0, 0.6 * len(snrs) + 3), 3.6)
    for (name, case), entries in curves.items():
        entries = sorted(entries, key=lambda e: -e["params"]["snr_db"])
        xs = [x_of[e["params"]["snr_db"]] for e in entries]
        ys = [e["wer"] for e in entries]
        clean = next((e["clean_wer"] for e in entries if isinstance(e.get("clean_wer"), int | float)), None)
        if clean is not None:
            xs, ys = [0, *xs], [clean, *ys]
        label = _plain(f"{case} · {name}" if len(names) > 1 else case)
        ax.plot(xs, ys, style[name], marker="o", markersize=3, color=color[case], label=label)
    ax.set_xticks(range(len(snrs) + 1), ["clean", *(f"{s:g}" for s in snrs)])
    ax.set_xlabel("SNR dB")
    ax.set_ylabel("WER")
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def plot_perturbations(runs: list[dict[str, Any]]) -> Figure | None:
    """Mean WER increase over clean audio per perturbation kind and run: which kind hurts most."""
    runs = [r for r in _active(runs) if r.get("robustness")]
    means: dict[str, dict[str, float]] = {}
    for run in runs:
        by_kind: dict[str, list[float]] = {}
        for e in run["robustness"]:
            if isinstance(e.get("wer"), int | float) and isinstance(e.get("clean_wer"), int | float):
                by_kind.setdefault(str(e.get("kind")), []).append(e["wer"] - e["clean_wer"])
        if by_kind:
            means[_label(run)] = {k: sum(v) / len(v) for k, v in by_kind.items()}
    if not means:
        return None
    kinds = list(dict.fromkeys(k for m in means.values() for k in m))
    width = 0.8 / len(means)
    fig, ax = _figure(max(4.0, 0.8 * len(kinds) * len(means) + 2), 3.0)
    for k, ((name, mean), color) in enumerate(zip(means.items(), _colors(len(means)), strict=True)):
        xs = [kinds.index(kind) - 0.4 + width * (k + 0.5) for kind in mean]
        ax.bar(xs, list(mean.values()), width=width, color=color, label=_plain(name))
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(kinds)), [_plain(k) for k in kinds], fontsize=8)
    ax.set_ylabel("mean WER increase")
    ax.legend(fontsize=7)
    return fig


def _plots(runs: list[dict[str, Any]]) -> list[str]:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return ["<p>Plots need matplotlib (<code>pip install matplotlib</code>).</p>"]
    total = len(_case_ids(_active(runs)))
    shown = len(worst_cases(_active(runs)))
    wer = "WER per case and model; black ticks are the baselines"
    if shown < total:
        wer += (
            f". The {shown} worst of {total} cases (not passing first, then the highest WER); "
            "every case is in the table of cases"
        )
    plots = [
        (plot_wer, "WER per case", wer),
        (plot_latency, "latency", "latency of repeatedly timed cases (ms)"),
        (plot_wer_rtf, "WER vs RTF", "corpus WER against real-time factor"),
        (plot_robustness, "robustness", "WER against signal-to-noise ratio"),
        (plot_perturbations, "perturbations", "mean WER increase per perturbation kind"),
    ]
    images: list[str] = []
    for plot, alt, caption in plots:
        fig = plot(runs)
        if fig is not None:
            images.append(_img(fig, alt, caption))
    return images


# --- tables ---------------------------------------------------------------------------------------


def _delta(value: Any, base: Any) -> str:
    if not isinstance(value, int | float) or not isinstance(base, int | float):
        return "-"
    change = value - base  # baselines are rounded to 4 places: smaller changes are no change
    change = change if abs(change) > 5e-5 else 0.0
    css = "worse" if change > 0 else "better" if change < 0 else ""
    return f'<span class="{css}">{change:+.4f}</span>' if css else f"{change:+.4f}"


def _latency(case: dict[str, Any]) -> str:
    latency = case.get("latency_ms") or {}
    runs = latency.get("runs") or len(latency.get("all") or [])
    if isinstance(runs, int) and runs > 1:
        return f"{_num(latency.get('median'), 1)} / {_num(latency.get('min'), 1)} (x{runs})"
    return _num(latency.get("median"), 1)


def alignment(pairs: Iterable[Any]) -> str:
    """A word alignment with its errors marked: under each reference word the model got wrong,
    what it wrote; a deleted word is struck through, an inserted one marked +."""
    out = []
    for ref, hyp in pairs:
        if ref and ref == hyp:
            out.append(_e(ref))
        elif ref and hyp:
            out.append(f'<b class="s">{_e(ref)}<em>{_e(hyp)}</em></b>')
        elif ref:
            out.append(f'<b class="d"><s>{_e(ref)}</s><em>&mdash;</em></b>')
        else:
            out.append(f'<b class="n">+<em>{_e(hyp)}</em></b>')
    return " ".join(out) or "(empty)"


LEGEND = (
    '<p class="note">Alignments: the reference, with what the model wrote under each word it got '
    'wrong: <span class="al"><b class="s">substituted<em>heard</em></b> '
    '<b class="d"><s>deleted</s><em>&mdash;</em></b> <b class="n">+<em>inserted</em></b></span></p>'
)


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
    head = ["case", "WER", "baseline WER", "delta", "CER", "latency ms median / min", "RTF", "verdict"]
    head.append("alignment")
    rows: list[str] = []
    for case in run.get("cases") or []:
        base = case.get("baseline") or {}
        verdict = case.get("verdict", "-")
        failing = verdict in NOT_PASSING
        values = [
            _e(case.get("id")),
            _num(case.get("wer")),
            _num(base.get("wer")),
            _delta(case.get("wer"), base.get("wer")),
            _num(case.get("cer")),
            _latency(case),
            _num(case.get("rtf"), 3),
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


# --- why the WER moved: what changed, error analysis, slices, hallucination -------------------------


def _words(items: Iterable[Any]) -> str:
    """``word xN`` of [word, count] pairs, or [reference, heard, count] triples as ``ref → heard``."""
    out = []
    for item in items:
        *words, n = item
        text = " &rarr; ".join(_e(w) for w in words)
        out.append(text + (f" &times;{n}" if n > 1 else ""))
    return ", ".join(out) or "none"


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
        counts.append(f"<tr>{_cells([*values, _num(errors.get(rate))])}</tr>")
    head = ["", "hits", "substitutions", "deletions", "insertions", "error rate"]
    ser = (
        f"<p>{errors.get('sentence_errors')} of {errors.get('cases')} sentences have an error "
        f"(sentence error rate {_num(errors.get('sentence_error_rate'))})</p>"
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


def _side(title: str, table: list[str]) -> list[str]:
    """A titled table set beside the next one."""
    return ['<div class="side">', f"<p>{title}</p>", *table, "</div>"]


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
            _num(row.get("wer")),
            _num(row.get("wer_before")),
            _delta(row.get("wer"), row.get("wer_before")) if verdict is not None else "-",
            _num(row.get("cer")),
            _num(row.get("p_value")) if tested else "-",
            _num(row.get("p_adjusted")) if tested else "-",
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


def _share(value: Any) -> str:
    return f"{value:.0%}" if isinstance(value, int | float) else "-"


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
            *(_now_base(t.get(k), base.get(k), 0) for k in ("start_mean_ms", "start_p95_ms")),
            *(_now_base(t.get(k), base.get(k), 0) for k in ("end_mean_ms", "end_p95_ms")),
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
            *(_num(pooled.get(k), 0) for k in ("start_mean_ms", "start_p95_ms", "end_mean_ms", "end_p95_ms")),
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
                _num(e.get("clean_wer")),
                _num(e.get("wer")),
                _num(e.get("limit")),
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
            silence = f"{_num(case.get('lead_silence_s'), 2)} / {_num(case.get('trail_silence_s'), 2)}"
            heard = case.get("judge_hypothesis")
            judge = f"{_num(case.get('judge_wer'))} / {_num((case.get('baseline') or {}).get('judge_wer'))}"
            if heard is not None:
                judge = f'<span title="{_e(heard)}">{judge}</span>'
            if case.get("judge"):
                judges[str(case["judge"])] = None
            values = [
                _e(_label(run)),
                _e(case.get("id")),
                _num(case.get("duration_s"), 2),
                _num(case.get("rms_dbfs"), 1),
                _num(case.get("clipping"), 4),
                silence,
                judge,
                _num((case.get("latency_ms") or {}).get("median"), 1),
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


def _now_base(now: Any, base: Any, digits: int = 3) -> str:
    return f"{_num(now, digits)} / {_num(base, digits)}"


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
                *(_now_base(now.get(k), then.get(k), 2) for k in ("sig", "bak", "ovrl", "p808")),
                _now_base(q.get("similarity"), base.get("similarity")),
                _now_base(q.get("longest_silence_s"), base.get("longest_silence_s"), 2),
                _now_base(q.get("words_per_s"), base.get("words_per_s"), 2),
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
                    _now_base(now.get("mean"), then.get("mean")),
                    _now_base(now.get("p5"), then.get("p5")),
                ]
                spreads.append(f"<tr>{_cells(cells)}</tr>")
        out += [f"<h3>{_e(_label(run))}: over {corpus.get('utterances', '?')} utterances</h3>"]
        out += _table(["figure", "mean now / baseline", "5th percentile now / baseline"], spreads)
        notes = corpus.get("notes") or []
        out += [f'<p class="note">{_e(n)}</p>' for n in notes]
    return out


# --- page -----------------------------------------------------------------------------------------


def _h2(heading: str) -> str:
    """A section heading with an anchor (``report.html#cases``)."""
    return f'<h2 id="{heading.lower().replace(" ", "-")}">{heading}</h2>'


def _sections(runs: list[dict[str, Any]], sections: list[tuple[str, Any]]) -> list[str]:
    """Each section with a heading, where any run has something to show in it."""
    out: list[str] = []
    for heading, part in sections:
        shown = [line for run in _active(runs) for line in part(run)]
        out += [_h2(heading), *shown] if shown else []
    return out


def render(runs: list[dict[str, Any]], title: str = "speechlab report") -> str:
    """The whole page for runs given as ``results.run_json`` produces them."""
    body = [*_header(runs, title), *_banner(runs, failures(runs)), "<h2>Overview</h2>", *_overview(runs)]
    sections = [
        ("The corpus against the baseline", _corpus_checks),
        ("What changed against the baseline", _what_changed),
    ]
    body += _sections(runs, sections)
    images = _plots(runs)
    if images:
        body += [_h2("Plots"), *images]
    body += _sections(
        runs,
        [
            ("Error analysis", _error_analysis),
            ("Slices", _slices),
            ("Hallucination", _hallucination),
            ("Word timestamps", _timestamps),
        ],
    )
    measured = [r for r in _active(runs) if r.get("cases") or r.get("errors")]
    if measured:
        body += [_h2("Cases"), LEGEND]
        for run in measured:
            body += _case_table(run)
    body += _robustness_table(runs) + _tts_table(runs) + _voice_table(runs)
    if any(' class="sortable"' in line for line in body):
        body.append(f"<script>{SCRIPT}</script>")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_e(title)}</title>",
            f"<style>{CSS}</style>",
            "</head>",
            "<body>",
            *body,
            "</body>",
            "</html>",
            "",
        ]
    )


def write_report(path: Path, runs: list[dict[str, Any]]) -> None:
    """Write the page atomically, so a CI artifact is never a half-written file."""
    write_atomic(Path(path), render(runs))

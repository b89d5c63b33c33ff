"""The report's plots (matplotlib, embedded as base64 PNG): WER per case, latency, WER against
real-time factor, the noise sweep and the perturbations."""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING, Any

from ...gate.records import CaseRecord, PerturbedRecord, RunRecord
from .markup import RANK, _active, _e, _label, _plain

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


DPI = 100
WER_TOP = 1.5  # WER axis limit: non-speech cases reach 100+ and would flatten every other bar
PLOT_CASES = 60  # the WER plot's bars: beyond this many cases, the worst ones


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


def _case_ids(runs: list[RunRecord]) -> list[str]:
    return list(dict.fromkeys(c.id for r in runs for c in r.cases))


def worst_cases(runs: list[RunRecord], limit: int = PLOT_CASES) -> list[str]:
    """Every case id in order, or past ``limit`` the ``limit`` worst over the runs: those not
    passing first (in the verdicts' order of precedence), then the highest WER."""
    ids = _case_ids(runs)
    if len(ids) <= limit:
        return ids
    rank: dict[str, tuple[int, float]] = {}
    for run in runs:
        for case in run.cases:
            key = (RANK.get(str(case.verdict), len(RANK)), -float(case.wer))
            rank[case.id] = min(rank.get(case.id, key), key)
    return sorted(ids, key=lambda i: rank.get(i, (len(RANK), 1.0)))[:limit]


def plot_wer(runs: list[RunRecord]) -> Figure | None:
    """WER per case, a bar per run, the baseline as a black tick: a regression stands out as a
    bar above its tick. Bars beyond the axis (non-speech cases) are cut and labelled. Past
    ``PLOT_CASES`` cases, the worst of them, worst first."""
    runs = [r for r in _active(runs) if r.cases]
    ids = worst_cases(runs)
    if not ids:
        return None
    index = {case_id: i for i, case_id in enumerate(ids)}
    width = 0.8 / len(runs)
    values = [c.wer for r in runs for c in r.cases]
    top = min(max([*values, 0.1]) * 1.1, WER_TOP)
    fig, ax = _figure(min(16.0, max(6.0, 0.3 * len(ids) * len(runs) + 2)), 3.6)
    marked = False
    for k, (run, color) in enumerate(zip(runs, _colors(len(runs)), strict=True)):
        xs, ys, bx, by = [], [], [], []
        for case in run.cases:
            if case.id not in index:
                continue
            x = index[case.id] - 0.4 + width * (k + 0.5)
            xs.append(x)
            ys.append(min(case.wer, top))
            if case.wer > top:
                label = f"{case.wer:.3g}"
                ax.text(x, top * 0.98, label, rotation=90, ha="center", va="top", fontsize=7, color="white")
            base = (case.baseline or {}).get("wer")
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


def plot_latency(runs: list[RunRecord]) -> Figure | None:
    """The spread of repeated timings per case and run: whether a latency change is beyond
    the run-to-run noise."""
    runs = _active(runs)
    repeated = {c.id for r in runs for c in r.cases if len(_timings(c)) > 1}
    ids = [i for i in _case_ids(runs) if i in repeated]
    if not ids:
        return None
    index = {case_id: i for i, case_id in enumerate(ids)}
    timed = [r for r in runs if any(len(_timings(c)) > 1 for c in r.cases)]
    width = 0.8 / len(timed)
    fig, ax = _figure(min(16.0, max(5.0, 0.5 * len(ids) * len(timed) + 2)), 3.4)
    handles: list[tuple[Any, str]] = []
    for k, (run, color) in enumerate(zip(timed, _colors(len(timed)), strict=True)):
        data, positions = [], []
        for case in run.cases:
            times = _timings(case)
            if len(times) > 1 and case.id in ids:
                data.append(times)
                positions.append(index[case.id] - 0.4 + width * (k + 0.5))
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


def _timings(case: CaseRecord) -> list[float]:
    times = case.latency_ms.get("all") or []
    return [t for t in times if isinstance(t, int | float)]


def plot_wer_rtf(runs: list[RunRecord]) -> Figure | None:
    """Accuracy against speed of every model and device: the trade-off in one picture."""
    points = [(_label(r), r.corpus.rtf, r.corpus.wer) for r in _active(runs) if r.corpus is not None]
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


def _snr(entry: PerturbedRecord) -> float | None:
    snr = (entry.perturbation.get("params") or {}).get("snr_db")
    return float(snr) if entry.perturbation.get("kind") == "noise" and isinstance(snr, int | float) else None


def _noise(runs: list[RunRecord]) -> dict[tuple[str, str], list[tuple[float, PerturbedRecord]]]:
    """Noise entries by (run, case), each with its SNR: the fixed sweep's (``recorded``) when the
    run has one, so that every curve has the same points, else every noise draw."""
    curves: dict[tuple[str, str], list[tuple[float, PerturbedRecord]]] = {}
    for run in _active(runs):
        entries = [e for e in run.robustness if e.recorded] or run.robustness
        for entry in entries:
            snr = _snr(entry)
            if snr is not None:
                curves.setdefault((_label(run), entry.case), []).append((snr, entry))
    return curves


def plot_robustness(runs: list[RunRecord]) -> Figure | None:
    """WER as noise rises, clean at the left: where each model starts to break down."""
    curves = _noise(runs)
    if not curves:
        return None
    snrs = sorted({snr for entries in curves.values() for snr, _ in entries}, reverse=True)
    x_of = {snr: i + 1 for i, snr in enumerate(snrs)}
    cases = list(dict.fromkeys(case for _, case in curves))
    names = list(dict.fromkeys(name for name, _ in curves))
    color = dict(zip(cases, _colors(len(cases)), strict=True))  # colour per case, line style per run
    style = {name: ("-", "--", ":", "-.")[i % 4] for i, name in enumerate(names)}
    fig, ax = _figure(max(5.0, 0.6 * len(snrs) + 3), 3.6)
    for (name, case), entries in curves.items():
        entries = sorted(entries, key=lambda pair: -pair[0])
        xs = [0, *(x_of[snr] for snr, _ in entries)]
        ys = [entries[0][1].clean_wer, *(e.wer for _, e in entries)]
        label = _plain(f"{case} · {name}" if len(names) > 1 else case)
        ax.plot(xs, ys, style[name], marker="o", markersize=3, color=color[case], label=label)
    ax.set_xticks(range(len(snrs) + 1), ["clean", *(f"{s:g}" for s in snrs)])
    ax.set_xlabel("SNR dB")
    ax.set_ylabel("WER")
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def plot_perturbations(runs: list[RunRecord]) -> Figure | None:
    """Mean WER increase over clean audio per perturbation kind and run: which kind hurts most."""
    runs = [r for r in _active(runs) if r.robustness]
    means: dict[str, dict[str, float]] = {}
    for run in runs:
        by_kind: dict[str, list[float]] = {}
        for e in run.robustness:
            by_kind.setdefault(str(e.perturbation.get("kind")), []).append(e.wer - e.clean_wer)
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


def _plots(runs: list[RunRecord]) -> list[str]:
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

"""Promotion through the gate: what a run shows, who may veto it, and the registry write.

``pytest --speech-model=NAME --promote-to=STATUS`` runs the suite; at the end every
implementation of the ``pytest_speechlab_promotion`` hook sees the run's ``Evidence`` and may
return reasons to block. The built-in one (``builtin_vetoes``) blocks on any failed or errored
test, tests deselected with ``-k``/``-m``, any case that errored, results that do not cover the
whole manifest, cases or corpus with no baseline to compare with, and the registry's ceilings
for the target status. Only a promotion no one vetoes is written, as one history entry; a
blocked one leaves the registry file untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core.case import Case
from ..store.registry import Entry
from .checks import INCONCLUSIVE, PASS
from .records import CaseRecord, RunRecord, VerdictRecord

# Options that choose which tests run, or stop the run early: a promotion runs the configured
# suite whole, so each is refused beside --promote-to (pytest's option destination: the flag).
SELECTION_OPTIONS = {
    "keyword": "-k",
    "markexpr": "-m",
    "deselect": "--deselect",
    "ignore": "--ignore",
    "ignore_glob": "--ignore-glob",
    "lf": "--lf",
    "failedfirst": "--ff",
    "stepwise": "--sw",
    "stepwise_skip": "--sw-skip",
    "maxfail": "-x/--maxfail",
    "collectonly": "--co",
    "noconftest": "--noconftest",  # a conftest's promotion veto would not load
    "confcutdir": "--confcutdir",
    "pyargs": "--pyargs",
    "rootdir": "--rootdir",  # testpaths are read from the root folder: another one collects elsewhere
}

# Ini settings that ``-o``/``--override-ini`` may change beside a promotion: how the run reports,
# never what it collects (``testpaths``, ``python_functions``, ``addopts``, ...). A prefix each.
OVERRIDABLE_INI = ("cache_dir", "console_output_style", "junit_", "log_", "verbosity_", "tmp_path_retention")

WHOLE = "a promotion runs the configured suite whole"


def _shown(items: list[str], sep: str, most: int) -> str:
    return sep.join(items[:most]) + (f"{sep}..." if len(items) > most else "")


def selection_refusals(
    args: list[str], configured: list[str], options: dict[str, object], overrides: list[str] | None = None
) -> list[str]:
    """Why a run may not promote because it chose its tests: ``args``, what pytest collects from
    (test paths or node ids given, or the folder it ran from), differ from ``configured``, what
    the configured ``testpaths`` collect (both relative to the project); an option in
    ``SELECTION_OPTIONS`` is set away from its default (``options``: destination -> value); or an
    ``-o KEY=VALUE`` in ``overrides`` changes an ini setting other than ``OVERRIDABLE_INI``."""
    reasons = []
    for dest, flag in SELECTION_OPTIONS.items():
        if options.get(dest) not in (None, "", 0, False, []):
            reasons.append(f"{flag} given: {WHOLE}")
    for item in overrides or []:
        key = item.partition("=")[0].strip()
        if not key.startswith(OVERRIDABLE_INI):
            reasons.append(f"-o {key} given: {WHOLE}")
    if sorted(args) != sorted(configured):
        reasons.append(
            f"tests chosen ({_shown(args, ' ', 3)}, not the configured {_shown(configured, ' ', 3)}): {WHOLE}"
        )
    return reasons


def tree_refusals(
    porcelain: list[str] | None, used: set[str] | None = None, outside: list[str] | None = None
) -> list[str]:
    """Why a run may not promote because what judges it is not committed: ``git status
    --porcelain`` lines of the gate's files (baselines, manifest and its audio, the suite and its
    conftests, pyproject, the registry), tracked changes and untracked files alike, and ignored
    files (``!!``) where the run uses them (``used``); gate files ``outside`` the repository;
    None outside a git repository."""
    if porcelain is None:
        return [
            "not a git repository: the baselines, manifest and thresholds cannot be verified as committed"
        ]
    changed = [
        line[3:]
        for line in porcelain
        if line.strip()
        and (not line.startswith("!!") or line[3:] in (used or ()))
        and "__pycache__/" not in line  # Python's bytecode of a suite: its source is what judges
    ]
    reasons = []
    if changed:
        shown = _shown(changed, ", ", 4)
        reasons.append(
            f"{len(changed)} uncommitted change(s) to what judges the run ({shown}): commit them first"
        )
    if outside:
        reasons.append(f"outside the git repository, so never verified as committed: {', '.join(outside)}")
    return reasons


def not_run(collected: list[str], reported: set[str]) -> list[str]:
    """The collected tests that never reported an outcome (a run stopped early, or a plugin that
    dropped tests without deselecting them)."""
    return [nodeid for nodeid in dict.fromkeys(collected) if nodeid not in reported]


@dataclass(frozen=True)
class Evidence:
    """What the run behind a promotion measured and how it ended."""

    model: str
    target: str
    entry: Entry  # the registry entry before the change
    runs: list[RunRecord]  # each device's run, as the results file records it
    manifest_cases: tuple[Case, ...]  # the whole manifest, not the selection
    failed_tests: list[str] = field(default_factory=list)  # node ids that failed or errored
    exitstatus: int = 0
    deselected: int = 0  # tests left out with -k or -m
    results_sha256: str = ""  # of the results JSON, as ``--speech-results`` writes it for this run
    not_run: list[str] = field(default_factory=list)  # collected tests that reported no outcome

    def metrics(self) -> dict[str, Any]:
        """Headline figures per device, for the history entry."""
        figures: dict[str, Any] = {}
        for run in self.runs:
            corpus = run.corpus
            row: dict[str, Any] = (
                {f"corpus_{k}": round(getattr(corpus, k), 4) for k in ("wer", "cer", "rtf")} if corpus else {}
            )
            timed = [c for c in run.cases if c.latency_ms.get("runs", 1) > 1]
            if timed:
                row["latency_subset_median_ms"] = round(sum(c.latency_ms["median"] for c in timed), 1)
                row.update(cost_figures(timed))
            rtfs = [t.rtf for t in run.tts_cases if t.rtf is not None]
            if run.tts_cases:
                row["tts_cases"] = len(run.tts_cases)
            if rtfs:
                row["tts_rtf"] = round(sum(rtfs) / len(rtfs), 4)
            row["cases"] = len(run.cases)
            figures[run.device] = row
        return figures


def cost_figures(timed: list[CaseRecord]) -> dict[str, Any]:
    """The latency subset's load-independent cost and the conditions its wall times were taken
    in: total least CPU time, the heaviest share of the CPU others took, re-timing rounds, and
    the wall-time checks that load left to the CPU time."""
    figures: dict[str, Any] = {}
    cpu = [c.latency_ms["cpu_min"] for c in timed if "cpu_min" in c.latency_ms]
    if len(cpu) == len(timed):
        figures["latency_subset_cpu_ms"] = round(sum(cpu), 1)
    shares = [c.latency_ms["others_cpu"] for c in timed if "others_cpu" in c.latency_ms]
    if shares:
        figures["others_cpu_max"] = round(max(shares), 3)
    figures["retimed"] = sum(c.latency_ms.get("retimed", 0) for c in timed)
    figures["wall_judged_by_cpu"] = sum(
        1
        for c in timed
        for o in (c.part.checks if c.part else [])
        if o.metric.endswith("latency ms") and o.outcome == PASS and not o.within
    )
    return figures


COMPARED = (  # figure, what it is, how it may move between promotions: absolute or relative
    ("corpus_wer", "corpus WER", "wer", False),
    ("corpus_cer", "corpus CER", "cer", False),
    ("latency_subset_cpu_ms", "latency-subset CPU ms", "latency", True),
    ("latency_subset_median_ms", "latency-subset median ms", "latency", True),
)


def since_last_promotion(entry: Entry, metrics: dict[str, Any], tolerances: dict[str, float]) -> list[str]:
    """Each figure that moved beyond its tolerance since the model's last promotion on the same
    device: not a veto (the gate judged against the baselines), but said in the history and the
    summary, so that a 19x latency between two promotions of one model does not pass unread."""
    previous = next((h for h in reversed(entry.history) if h.get("metrics")), None)
    if previous is None:
        return []
    lines = []
    for device, row in metrics.items():
        before = previous["metrics"].get(device) or {}
        for key, label, tolerance, relative in COMPARED:
            old, new = before.get(key), row.get(key)
            if not isinstance(old, (int, float)) or not isinstance(new, (int, float)) or old <= 0:
                continue
            allowed = tolerances.get(tolerance, 0.0)
            moved = new / old - 1 if relative else new - old
            if abs(moved) > allowed + 1e-9:
                change = f"x{new / old:.2f}" if relative else f"{moved:+.4f}"
                load = row.get("others_cpu_max") if key == "latency_subset_median_ms" else None
                shared = f"; others took up to {load:.0%} of the CPU while it was timed" if load else ""
                lines.append(
                    f"{device}: {label} {old:g} -> {new:g} ({change}) since the promotion of "
                    f"{previous.get('when', '?')}, beyond the tolerance {allowed:g}{shared}"
                )
    return lines


def _coverage(evidence: Evidence, run: RunRecord, capabilities: set[str]) -> list[str]:
    reasons = []
    if "asr" in capabilities:
        measured = {c.id for c in run.cases}
        missing = [c.id for c in evidence.manifest_cases if c.id not in measured]
        if missing:
            reasons.append(
                f"speech-to-text results cover {len(measured)} of {len(evidence.manifest_cases)} "
                f"manifest cases (missing {', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''})"
            )
    if "tts" in capabilities:
        spoken = [c.id for c in evidence.manifest_cases if c.text.strip()]
        measured = {c.id for c in run.tts_cases}
        missing = [c for c in spoken if c not in measured]
        if missing:
            reasons.append(
                f"text-to-speech results cover {len(measured)} of {len(spoken)} manifest texts "
                f"(missing {', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''})"
            )
    return reasons


def builtin_vetoes(evidence: Evidence, tasks: tuple[str, ...]) -> list[str]:
    """The reasons the built-in gate blocks a promotion (empty: it does not)."""
    reasons = []
    if evidence.failed_tests:
        shown = ", ".join(evidence.failed_tests[:3]) + (", ..." if len(evidence.failed_tests) > 3 else "")
        reasons.append(f"{len(evidence.failed_tests)} test(s) failed: {shown}")
    elif evidence.exitstatus != 0:
        reasons.append(f"the run ended with exit status {evidence.exitstatus}")
    if evidence.deselected:
        reasons.append(f"{evidence.deselected} test(s) deselected (-k/-m): a promotion runs the whole suite")
    if evidence.not_run:
        shown = _shown(evidence.not_run, ", ", 3)
        reasons.append(f"{len(evidence.not_run)} collected test(s) did not run: {shown}")
    if not evidence.runs:
        reasons.append("no run of the model")
    ceilings = evidence.entry.ceilings(evidence.target)
    for run in evidence.runs:
        where = run.label
        if run.skipped:
            reasons.append(f"{where} was skipped: {run.skipped}")
            continue
        verdict = run.verdict or VerdictRecord("none")
        overall = verdict.overall
        if overall != PASS:
            why = (
                "the baseline has no CPU times to judge a loaded wall time by: re-record it "
                "(--update-baselines) on a quiet machine, or re-run where no other process competes"
                if overall == INCONCLUSIVE
                else ""
            )
            reasons.append(f"{where}: the gate's verdict is {overall}" + (f" ({why})" if why else ""))
            reasons += [f"{where}: {line}" for line in verdict.failures[:10]]
        reasons += [
            f"{where}: the baselines were recorded under another model: {line}"
            for line in verdict.identity_differences
        ]
        reasons += [f"{where}: {r}" for r in _coverage(evidence, run, set(tasks))]
        for metric, limit in ceilings.items():
            value = getattr(run.corpus, metric, None)
            if value is None:
                reasons.append(f"{where}: no corpus {metric} measured for the {evidence.target} ceiling")
            elif value > limit:
                ceiling = f"the {evidence.target} ceiling {limit:g}"
                reasons.append(f"{where}: corpus {metric.upper()} {value:.4f} above {ceiling}")
    return reasons

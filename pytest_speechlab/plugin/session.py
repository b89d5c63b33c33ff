"""The session: which models run on which devices, what each is compared with, and what the run
decided (verdicts, baseline updates, the promotion)."""

from __future__ import annotations

import glob
import hashlib
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from ..core.case import Case
from ..core.metrics import normalizer_id, scorer_id
from ..core.settings import OPTIONS, Settings
from ..engines import engine_class
from ..errors import SpeechlabError, SpeechlabWarning
from ..gate.promotion import (
    SELECTION_OPTIONS,
    Evidence,
    selection_refusals,
    since_last_promotion,
    tree_refusals,
)
from ..gate.records import RunRecord
from ..gate.verdicts import RunVerdict
from ..io import devices
from ..io.formats import split_spec
from ..io.formats.writer import edited_transcripts
from ..io.manifest import Manifest, load_manifest, sha256_file
from ..io.manifest_check import check_cases
from ..io.provenance import git_status, git_toplevel, utc_now
from ..measure.judge import Judge
from ..measure.ray_pass import RayOutcome
from ..measure.run import AudioCache, ModelRun
from ..store.atomic import shown, write_atomic
from ..store.baselines import Baseline, Comparison, baseline_path, read_baseline
from ..store.registry import Registry, check_transition, load_registry
from .xdist import is_worker

# Flags that would loosen a promotion's gate: it runs under the configured manifest, baselines
# and thresholds only (``pyproject.toml`` and the registry), so that what passed is what a
# reviewer approved. Where results and reports go, the device, the registry file and the
# engine's source and options stay free: a changed model is caught by the identity check.
FIXED_FOR_PROMOTION = {row.dest: row.flag for row in OPTIONS if row.fixed and row.flag}
FIXED_FOR_PROMOTION["inifilename"] = "-c/--config-file"


@dataclass
class SpeechSession:
    settings: Settings
    cases: tuple[Case, ...]
    full_manifest: bool
    runs: list[ModelRun]
    registry: Registry
    manifest_cases: tuple[Case, ...] = ()
    updates: list[list[str]] = field(default_factory=list)  # what each baseline update did, as lines
    failed: dict[str, list[str]] = field(default_factory=dict)  # run id -> failed test node ids
    promotion: list[str] = field(default_factory=list)  # what the promotion step decided, and why
    deselected: int = 0  # tests left out with -k or -m: a promotion needs the whole suite
    collected: list[str] = field(default_factory=list)  # node ids of every test collected
    reported: set[str] = field(default_factory=set)  # node ids that reported an outcome
    unverified_tree: str | None = None  # why the gate's files could not be verified as committed
    verdicts: dict[str, RunVerdict] = field(default_factory=dict)  # run id -> its verdict, once judged
    ray: dict[str, RayOutcome] = field(default_factory=dict)  # run id -> its pass on a Ray cluster

    def verdict(self, run: ModelRun) -> RunVerdict | None:
        return self.verdicts.get(run.id)


def not_comparable(baseline: Baseline) -> str | None:
    """Why figures scored by this plugin may not be compared with ``baseline``'s, or None.

    A different normaliser or a new major version of the scorer changes every WER without any
    change to the model; such a baseline is re-recorded after review, never compared silently."""
    fix = "not comparable; re-record with --update-baselines after review"
    stored = baseline.meta.get("normalizer")
    if stored != normalizer_id():
        return (
            f"{baseline.path}: recorded with normaliser {stored!r}, this run uses {normalizer_id()!r}: {fix}"
        )
    scorer = baseline.meta.get("scorer", "jiwer 4")  # recorded since 0.2; every earlier release used jiwer 4
    if scorer.split(".")[0] != scorer_id().split(".")[0]:
        return f"{baseline.path}: scored with {scorer!r}, this run with {scorer_id()!r}: {fix}"
    return None


def comparison(settings: Settings, model: str, device: str) -> Comparison:
    """What one model's run on one device is compared with: its baseline file, read now."""
    path = baseline_path(settings.baselines, model, device)
    baseline = read_baseline(path)
    refused = not_comparable(baseline) if baseline and not settings.update else None
    label = f"{model} on {device}"
    return Comparison(
        label, path, baseline, settings.tolerances, settings.new_cases, settings.update, refused
    )


def manifest_warnings(manifest: Manifest) -> list[str]:
    """What looks wrong in the manifest, from its headers and transcripts (no decoding): a clip
    too short for its words, an odd sample rate, duplicate files, a transcript edited beside its
    audio that the manifest never took in."""
    full = "(`speechlab manifest check` decodes the audio for the full check)"
    lines = [f"{finding.message} {full}" for finding in check_cases(manifest.cases, samples=False)]
    return lines + edited_transcripts(manifest.cases, shown(manifest.path))


def warn(config: pytest.Config, lines: list[str]) -> None:
    for line in lines:
        try:
            config.issue_config_time_warning(SpeechlabWarning(line), stacklevel=2)
        except SpeechlabWarning:  # -W error made it one: a usage error's line, not a traceback
            raise SpeechlabError(line) from None


def build(config: pytest.Config, settings: Settings) -> SpeechSession | None:
    if not settings.models:
        if settings.update:
            raise SpeechlabError("--update-baselines: name the model(s) with --speech-model")
        return None
    if settings.manifest is None:
        raise SpeechlabError("no manifest: pass --speech-manifest or set [tool.speechlab] manifest")
    manifest = load_manifest(settings.manifest, settings.audio_root)
    if is_worker(config):  # its timings are not gated (the controller times the latency subset)
        settings = replace(settings, warmup=0)
    else:  # said once, by the process that reports
        warn(config, manifest_warnings(manifest))
    cases = manifest.select(list(settings.tags))
    extra: dict[str, type] = {}
    for engines in config.hook.pytest_speechlab_engines():
        extra.update(engines)
    names = devices.parse(settings.device)
    registry = load_registry(settings.registry)
    check_promotion(config, settings, registry)
    audio = AudioCache()
    runs = []
    for model in settings.models:
        cls = engine_class(model, extra)
        model_settings = with_registry_thresholds(settings, registry, model)
        for device, reason in devices.resolve(names, cls.unavailable):
            against = comparison(model_settings, model, device)
            runs.append(
                ModelRun(model, device, cls, model_settings, cases, audio, against, skip_reason=reason)
            )
    # the process that decides the promotion checks the tree; a worker, compiling as it collects, does not
    checked = settings.promote_to and not is_worker(config)
    unverified = check_tree(config, settings, runs, manifest.cases) if checked else None
    assign_judges(runs, settings, registry, extra, audio)
    speech = SpeechSession(settings, cases, not settings.tags, runs, registry, manifest.cases)
    speech.unverified_tree = unverified
    return speech


def assign_judges(
    runs: list[ModelRun], settings: Settings, registry: Registry, extra: dict[str, type], audio: AudioCache
) -> None:
    """Give each text-to-speech run its judge: the judge model on the same device, shared with
    a run of that model under test if there is one, so it is loaded once per device."""
    tts = [r for r in runs if "tts" in r.engine_cls.tasks and not r.skip_reason]
    if not settings.judge or not tts:
        return
    cls = engine_class(settings.judge, extra)
    if "asr" not in cls.tasks:
        raise SpeechlabError(f"--speech-judge: {settings.judge} does not do speech-to-text")
    judges: dict[str, Judge] = {}
    for run in tts:
        if run.device not in judges:
            same = next((r for r in runs if r.name == settings.judge and r.device == run.device), None)
            judge_settings = with_registry_thresholds(settings, registry, settings.judge)
            alone = Comparison(f"{settings.judge} on {run.device} (judge)", run.against.path, None)
            judges[run.device] = Judge(
                same or ModelRun(settings.judge, run.device, cls, judge_settings, (), audio, alone)
            )
        run.judge = judges[run.device]


def with_registry_thresholds(settings: Settings, registry: Registry, model: str) -> Settings:
    """The registry's tolerances for ``model`` over the file's; the command line still wins."""
    entry = registry.models.get(model)
    if entry is None:
        return settings
    chosen = {k: v for k, v in entry.tolerances().items() if k not in settings.given_tolerances}
    return replace(settings, tolerances=replace(settings.tolerances, **chosen)) if chosen else settings


def check_promotion(config: pytest.Config, settings: Settings, registry: Registry) -> None:
    """Refuse, before anything runs, a promotion that could never be applied or that would run
    under a loosened gate."""
    if not settings.promote_to:
        return
    if len(settings.models) != 1:
        raise SpeechlabError("--promote-to: promote one model at a time")
    if settings.update:
        raise SpeechlabError(
            "--promote-to: not with --update-baselines (promote against committed baselines)"
        )
    for dest, flag in FIXED_FOR_PROMOTION.items():
        if config.getoption(dest, default=None) not in (None, [], False):
            raise SpeechlabError(
                f"--promote-to: {flag} may not be given with a promotion; it runs under the "
                "configured manifest, baselines and thresholds (pyproject.toml and the registry)"
            )
    args, configured = collection_paths(config)
    options = {dest: config.getoption(dest, default=None) for dest in SELECTION_OPTIONS}
    overrides = config.getoption("override_ini", default=None) or []
    for reason in selection_refusals(args, configured, options, overrides):
        raise SpeechlabError(f"--promote-to: {reason}")
    if not registry.path or not registry.path.is_file():
        raise SpeechlabError(f"--promote-to: no registry at {registry.path}")
    entry = registry.get(settings.models[0])
    check_transition(
        entry,
        settings.promote_to,
        force=settings.promote_force,
        reason=settings.promote_reason,
        restore=settings.promote_restore,
    )


def collection_paths(config: pytest.Config) -> tuple[list[str], list[str]]:
    """What this run collects from (test paths or node ids given, or the folder it ran from) and
    what the configured ``testpaths`` collect when pytest runs from the project's root folder,
    both relative to it (pytest reads ``testpaths`` only there)."""
    root = config.rootpath

    def rel(arg: str, base: Path) -> str:
        path, sep, node = arg.partition("::")
        return f"{relative(base / path, root)}{sep}{node}"

    args = [rel(str(arg), config.invocation_params.dir) for arg in config.args]
    globbed = [
        p for t in config.getini("testpaths") for p in sorted(glob.glob(t, root_dir=root, recursive=True))
    ]
    return args, [rel(p, root) for p in globbed] or ["."]


def gate_paths(
    config: pytest.Config, settings: Settings, runs: list[ModelRun], cases: tuple[Case, ...]
) -> tuple[list[Path], list[Path], list[Path]]:
    """What judges a promotion, as (folders, files the run uses, audio): the baselines, the
    manifest and its folder, the suite (``testpaths``) and the conftests loaded, pyproject.toml
    and the registry; and the audio and alignments the manifest names."""
    root = config.rootpath
    folders = [settings.baselines, *(root / p for p in collection_paths(config)[1])]
    used = [settings.registry, root / "pyproject.toml", *(r.against.path for r in runs)]
    used += [Path(m.__file__) for m in config.pluginmanager.get_plugins()
             if Path(str(getattr(m, "__file__", ""))).name == "conftest.py"]  # fmt: skip
    if config.inipath:
        used.append(config.inipath)
    manifest = Path(split_spec(str(settings.manifest))[1]) if settings.manifest else None
    if manifest and manifest.is_dir():
        folders.append(manifest)
    elif manifest and manifest.is_file():
        folders.append(manifest.parent)
        used.append(manifest)
    audio = [c.audio for c in cases] + [c.alignment for c in cases if c.alignment]
    return folders, used, list(dict.fromkeys(audio))


def check_tree(
    config: pytest.Config, settings: Settings, runs: list[ModelRun], cases: tuple[Case, ...]
) -> str | None:
    """Refuse a promotion whose gate files are not committed as they are (audio outside the
    repository is recorded by digest instead); outside git, only with --promote-force and a
    reason, and return what could not be verified (for the history)."""
    top = git_toplevel(config.rootpath)
    if top is None:
        refusals = tree_refusals(None)
        if settings.promote_force:
            return refusals[0]
        raise SpeechlabError(
            f"--promote-to: {refusals[0]} (outside git: --promote-force with --promote-reason, "
            "or speechlab promote --force --reason)"
        )
    top = top.resolve()
    folders, used, audio = gate_paths(config, settings, runs, cases)
    inside: dict[Path, str] = {}
    outside = []
    for path in [*folders, *used, *audio]:
        resolved = path.resolve()
        if resolved.is_relative_to(top):
            inside[path] = resolved.relative_to(top).as_posix()
        elif path not in audio:
            outside.append(str(path))
    porcelain = git_status(sorted(set(inside.values())), top)
    if porcelain is None:
        raise SpeechlabError(f"--promote-to: git status failed in {top}: the gate's files cannot be verified")
    in_use = {inside[p] for p in [*used, *audio] if p in inside}
    refusals = tree_refusals(porcelain, used=in_use, outside=list(dict.fromkeys(outside)))
    if refusals:
        raise SpeechlabError(f"--promote-to: {'; '.join(refusals)}")
    return None


def cases_digest(cases: tuple[Case, ...]) -> str:
    """What a manifest asks, in any format: each case's id, reference text, audio and span."""
    rows = [
        f"{c.id}\t{c.text}\t{c.audio.name}\t{c.sha256 or ''}\t{c.offset_s}\t{c.duration_s:.3f}" for c in cases
    ]
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def audio_digest(cases: tuple[Case, ...], root: Path) -> str:
    """What the manifest's audio is, byte for byte: each file's digest (the manifest's pinned one
    where it gives it), by its path relative to the project; audio outside the repository is
    verified by this alone."""
    files = {c.audio: c.sha256 for c in cases}
    rows = sorted(f"{relative(path, root)}\t{sha or sha256_file(path)}" for path, sha in files.items())
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def keep_results(speech: SpeechSession, model: str, document: str) -> Path:
    """A copy of the promoting run's results beside the registry (``promotions/``), written before
    the registry, so that the history's digest can be checked later against a file that exists."""
    folder = speech.registry.path.parent / "promotions"
    folder.mkdir(exist_ok=True)
    path = folder / f"{model}-{utc_now().replace(':', '').replace('-', '')}.json"
    write_atomic(path, document)
    return path


def relative(path: Path | str | None, root: Path) -> str | None:
    """``path`` relative to the project (``../`` where it lies outside): a history is committed,
    and a path of the machine that promoted means nothing on another."""
    if path is None:
        return None
    return Path(os.path.relpath(Path(path).resolve(), root.resolve())).as_posix()


def promotion_record(
    config: pytest.Config, speech: SpeechSession, evidence: Evidence, data: list[RunRecord], kept: Path
) -> dict[str, Any]:
    """What a promotion's history entry records of the run that earned it: the results (a copy
    and its digest) and figures, what judged it (the manifest, the baselines, pyproject and the
    registry's thresholds, each by digest, and every setting), which tests ran, and the model
    identity gated on each device (what the server checks before serving it)."""
    settings = speech.settings
    root = config.rootpath
    run = next(r for r in speech.runs if not r.skip_reason)
    spec = str(settings.manifest) if settings.manifest else None
    path = Path(split_spec(spec)[1]) if spec else None
    ran = sorted(set(speech.collected) & speech.reported)  # node ids, each once
    baselines = {relative(r.against.path, root): sha256_file(r.against.path) for r in speech.runs
                 if not r.skip_reason and r.against.path.is_file()}  # fmt: skip
    metrics, tolerances = evidence.metrics(), asdict(run.settings.tolerances)
    return {
        "results_sha256": evidence.results_sha256,
        "results": relative(kept, root),
        "metrics": metrics,
        "manifest": relative(path, root) if path else None,
        "manifest_sha256": sha256_file(path) if path and path.is_file() else None,
        "cases_sha256": cases_digest(speech.manifest_cases),
        "audio_sha256": audio_digest(speech.manifest_cases, root),
        "baselines_sha256": baselines,
        "pyproject_sha256": sha256_file(root / "pyproject.toml")
        if (root / "pyproject.toml").is_file()
        else None,
        "tree": speech.unverified_tree or "committed and unchanged",
        "tree_verified": speech.unverified_tree is None,
        "settings": {
            "tolerances": tolerances,
            "ceilings": evidence.entry.ceilings(evidence.target),
            "latency_tags": list(settings.latency_tags),
            "robustness_tags": list(settings.robustness_tags),
            "repeats": settings.repeats,
            "warmup": settings.warmup,
            "new_cases": settings.new_cases,
            "judge": settings.judge,
            **({"ray": {run_id: o.as_dict() for run_id, o in speech.ray.items()}} if speech.ray else {}),
        },
        "tolerances": tolerances,
        "tests": {
            "collected": len(speech.collected),
            "ran": len(ran),
            "node_ids_sha256": hashlib.sha256("\n".join(ran).encode()).hexdigest(),
        },
        "identity": {r.device: {k: r.identity.get(k) for k in IDENTITY_KEYS} for r in data if r.identity},
        "since_last_promotion": since_last_promotion(evidence.entry, metrics, tolerances),
    }


IDENTITY_KEYS = ("engine", "model_id", "source", "revision", "device", "compute_type")

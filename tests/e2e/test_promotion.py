"""Promotion through the gate (``--promote-to``), the registry's thresholds, and the Markdown
summary, run with pytester on throwaway projects with the real Faster-Whisper engine."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest
import yaml

from pytest_speechlab.store.registry import load_registry

from ..projects import QUIET, commit_all

REGISTRY = """\
schema: 1
models:
  faster_whisper:
    status: experimental
    capabilities: [asr]
    thresholds:
      ceilings:
        production: {wer: 0.5}
    history:
      - {from: null, to: experimental, reason: added}
"""


@pytest.fixture
def registry(project, recorded):
    """The project's registry, with faster_whisper experimental, and baselines to gate on
    (recorded once for the whole run), all committed."""
    path = project.path / "registry.yaml"
    path.write_text(REGISTRY)
    recorded(project)
    commit_all(project.path, "baselines recorded")
    return path


def assert_refused(project, registry, line: str, *args: str, promote: bool = True) -> None:
    """Refused before the run: a usage error whose line matches ``ERROR: line``, and the registry
    byte for byte unchanged."""
    before = registry.read_bytes()
    result = project.run(*(["--promote-to=candidate"] if promote else []), *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    result.stderr.fnmatch_lines([f"ERROR: {line}"])
    assert registry.read_bytes() == before


def test_passing_promotion_writes_exactly_one_history_entry(project, registry):
    out = project.path / "results.json"
    result = project.run("--promote-to=candidate", f"--speech-results={out}", "--promote-reason=first gate")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        ["speechlab: faster_whisper: experimental -> candidate, recorded in *registry.yaml"]
    )
    entry = load_registry(registry).get("faster_whisper")
    assert entry.status == "candidate"
    assert len(entry.history) == 2
    change = entry.history[-1]
    assert (change["from"], change["to"], change["reason"]) == ("experimental", "candidate", "first gate")
    assert change["results_sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    # a copy of the results is kept beside the registry, named relative to the project
    assert change["results"].startswith("promotions/faster_whisper-")
    kept = project.path / change["results"]
    assert hashlib.sha256(kept.read_bytes()).hexdigest() == change["results_sha256"]
    # what judged it, by digest, and which tests ran: all that were collected
    baseline = "baselines/faster_whisper/cpu.json"
    assert change["baselines_sha256"] == {baseline: hashlib.sha256(project.baseline.read_bytes()).hexdigest()}
    assert (
        change["pyproject_sha256"]
        == hashlib.sha256((project.path / "pyproject.toml").read_bytes()).hexdigest()
    )
    assert change["tree"] == "committed and unchanged" and change["tree_verified"] is True
    audio = sorted(project.path.glob("data/audio/*.wav"))
    rows = sorted(f"data/audio/{a.name}\t{hashlib.sha256(a.read_bytes()).hexdigest()}" for a in audio)
    assert change["audio_sha256"] == hashlib.sha256("\n".join(rows).encode()).hexdigest()
    assert change["tests"]["ran"] == change["tests"]["collected"] == result.parseoutcomes()["passed"]
    assert change["settings"]["repeats"] == 2 and change["settings"]["new_cases"] == "fail"
    assert (
        change["settings"]["latency_tags"] == ["latency"] and change["settings"]["judge"] == "faster_whisper"
    )
    assert change["settings"]["ceilings"] == {}  # none for candidate in this registry
    # the model gated on each device, as the server checks it before serving
    assert (
        change["identity"]["cpu"]["compute_type"] == "int8" and change["identity"]["cpu"]["device"] == "cpu"
    )
    assert change["identity"]["cpu"]["engine"] == entry.engine
    data = json.loads(out.read_text())
    assert change["metrics"]["cpu"]["corpus_wer"] == round(data["corpus"]["wer"], 4)
    assert change["metrics"]["cpu"]["cases"] == len(project.cases)
    assert entry.revision == data["identity"]["revision"] and entry.source == data["identity"]["source"]
    assert entry.engine.startswith("faster-whisper ")
    # what it was judged on and by: the manifest's digest and the tolerances in effect
    assert change["manifest"] == "data/manifest.yaml"
    assert change["manifest_sha256"] == hashlib.sha256(project.manifest.read_bytes()).hexdigest()
    assert len(change["cases_sha256"]) == 64
    assert change["tolerances"]["wer"] == 0.02 and change["tolerances"]["latency"] == 3.0
    # what the server and later runs load: the promoting run's engine options
    assert entry.options == data["options"] and entry.options["beam_size"] == 5


def test_failing_threshold_blocks_and_leaves_the_registry_unchanged(project, registry):
    data = project.read_baseline()
    case = project.cases[1]["id"]
    data["cases"][case]["wer"] = round(data["cases"][case]["wer"] - 0.1, 4)
    project.write_baseline(data)
    commit_all(project.path, "a stricter baseline, reviewed")
    before = registry.read_bytes()
    summary = project.path / "summary.md"
    result = project.run("--promote-to=candidate", f"--speech-summary={summary}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "speechlab: faster_whisper: promotion to candidate BLOCKED; the registry is unchanged",
            f"  * test(s) failed: suites/test_asr.py::test_wer[[]faster_whisper-cpu-{case}[]]*",
        ]
    )
    assert registry.read_bytes() == before
    # the Markdown summary a reviewer reads says the same
    text = summary.read_text()
    assert text.startswith("## Speech model gate\n")
    assert "### speechlab: `faster_whisper` on cpu: FAIL" in text
    assert "registry status **experimental**" in text
    assert "| metric | baseline | measured | delta | verdict |" in text
    assert "| corpus WER |" in text
    assert (
        "corpus WER change +0.0000 [+0.0000, +0.0000] (95% one-sided bootstrap over 2 cases, 0 changed)"
        in text
    )
    assert f"- `{case}` (FAIL): WER " in text
    assert "### Promotion" in text and "BLOCKED" in text


def test_errored_case_blocks(project, registry):
    import numpy as np
    import soundfile

    from .test_gate import TOY_ENGINE

    project.pytester.makeconftest(TOY_ENGINE)  # a toy engine that fails on audio under a second
    registry.write_text(REGISTRY.replace("faster_whisper:", "toy_echo:"))
    assert project.run("--update-baselines", model="toy_echo").ret == 0
    soundfile.write(project.path / "data" / "audio" / "short.wav", np.zeros(8000, np.float32), 16000)
    project.write_manifest([*project.cases, {"id": "short", "audio": "audio/short.wav", "text": "hi"}])
    commit_all(project.path)
    before = registry.read_bytes()
    result = project.run("--promote-to=candidate", model="toy_echo")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*toy_echo on cpu: short: error: RuntimeError: toy engine: audio too short"])
    assert registry.read_bytes() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["suites/test_asr.py::test_wer"],
            "tests chosen (suites/test_asr.py::test_wer, not the configured suites)",
        ),
        (["suites/test_asr.py"], "tests chosen (suites/test_asr.py, not the configured suites)"),
        (["-o", "python_functions=test_wer"], "-o python_functions given"),
        (["--override-ini=testpaths=suites/test_asr.py"], "-o testpaths given"),
        (["--rootdir=suites"], "--rootdir given"),
        (["--ignore=suites/other.py"], "--ignore given"),
        (["--ignore-glob=*latency*"], "--ignore-glob given"),
        (["-k", "test_wer"], "-k given"),
        (["-m", "latency"], "-m given"),
        (["--deselect=suites/test_asr.py::test_latency"], "--deselect given"),
        (["--co"], "--co given"),  # --lf and --sw need the cache these runs leave off: see test_vetoes.py
        (["-x"], "-x/--maxfail given"),
        (["--maxfail=3"], "-x/--maxfail given"),
        (["--noconftest"], "--noconftest given"),
    ],
)
def test_choosing_the_tests_is_refused_before_the_run(project, registry, args, message):
    """The bypass: a model blocked on the whole suite promoted by running a part of it."""
    assert_refused(
        project, registry, f"--promote-to: {message}*: a promotion runs the configured suite whole", *args
    )


def test_the_suite_is_the_configured_one_wherever_the_tests_are_chosen(project, registry, monkeypatch):
    """The same bypass by other routes: a node id in PYTEST_ADDOPTS, --lf (with pytest's cache on),
    and a run from a sub-folder, where pytest ignores testpaths and collects only that folder."""
    monkeypatch.setenv("PYTEST_ADDOPTS", "suites/test_asr.py::test_wer")
    assert_refused(project, registry, "--promote-to: tests chosen (suites/test_asr.py::test_wer, *")
    monkeypatch.delenv("PYTEST_ADDOPTS")
    before = registry.read_bytes()
    last_failed = project.pytester.runpytest_inprocess(
        "--speech-model=faster_whisper", "--promote-to=candidate", "--lf"
    )
    assert last_failed.ret == pytest.ExitCode.USAGE_ERROR
    last_failed.stderr.fnmatch_lines(
        ["ERROR: --promote-to: --lf given: a promotion runs the configured suite whole"]
    )
    part = project.path / "suites" / "part"
    part.mkdir()
    (part / "test_part.py").write_text(
        "from pytest_speechlab.suites.test_asr import test_wer  # noqa: F401\n"
    )
    commit_all(project.path, "a folder of the suite with one of its tests")
    assert registry.read_bytes() == before
    monkeypatch.chdir(part)
    assert_refused(project, registry, "--promote-to: tests chosen (suites/part, not the configured suites)*")


def test_an_updated_baseline_must_be_committed_before_a_promotion(project, registry):
    """The bypass: baselines rewritten by --update-baselines after a regression, then promoted
    from the dirty tree; and an untracked baseline for a new device."""
    data = project.read_baseline()
    case = project.cases[1]["id"]
    data["cases"][case]["wer"] = 0.41  # as an update over a worse model writes it
    project.write_baseline(data)
    changed = (
        "--promote-to: 1 uncommitted change(s) to what judges the run (baselines/faster_whisper/{}.json)*"
    )
    assert_refused(project, registry, changed.format("cpu"))
    commit_all(project.path, "reviewed")
    (project.baseline.parent / "cuda.json").write_text(project.baseline.read_text())
    assert_refused(project, registry, changed.format("cuda"))


def test_baselines_updated_by_a_run_must_be_committed_before_a_promotion(project, registry):
    """The bypass as the audit ran it: --update-baselines over a changed model, then a promotion
    of that model from the tree the update left."""
    changed = "--speech-option=faster_whisper.beam_size=1"
    assert project.run("--update-baselines", changed).ret == 0
    line = (
        "--promote-to: * uncommitted change(s) to what judges the run (baselines/faster_whisper/cpu.json, *"
    )
    assert_refused(project, registry, line, changed)


def test_a_baseline_hidden_from_git_is_not_committed(project, registry):
    """A baseline that .gitignore (here .git/info/exclude) hides never shows as untracked."""
    subprocess.run(["git", "rm", "-q", "-r", "--cached", "baselines"], cwd=project.path, check=True)
    (project.path / ".git" / "info" / "exclude").write_text("baselines/\n")
    commit_all(project.path, "baselines out of git")
    line = "--promote-to: 1 uncommitted change(s) to what judges the run (baselines/faster_whisper/cpu.json)*"
    assert_refused(project, registry, line)


DROPS_LATENCY = {  # a conftest's hook that drops the latency tests from the run without deselecting them
    "at collection": """
import pytest

@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    items[:] = [i for i in items if "test_latency" not in i.nodeid]
""",
    "before the run": """
import pytest

@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session):
    session.items[:] = [i for i in session.items if "test_latency" not in i.nodeid]
    return (yield)
""",
}


@pytest.mark.parametrize("when", DROPS_LATENCY)
def test_a_conftest_that_drops_tests_must_be_committed_and_still_blocks(project, registry, when):
    """A conftest is part of the suite: uncommitted, it is refused; committed, the tests it drops
    are counted as collected and not run (defence in depth)."""
    before = registry.read_bytes()
    (project.path / "conftest.py").write_text(QUIET + DROPS_LATENCY[when])
    assert_refused(
        project, registry, "--promote-to: 1 uncommitted change(s) to what judges the run (conftest.py)*"
    )
    commit_all(project.path, "a conftest that drops the latency tests")
    result = project.run("--promote-to=candidate")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["*BLOCKED*", "  * collected test(s) did not run: suites/test_asr.py::test_latency*"]
    )
    assert registry.read_bytes() == before


def test_a_baseline_without_identity_is_compared_with_a_warning_and_not_promoted(project, registry):
    data = project.read_baseline()
    del data["identity"]
    project.write_baseline(data)
    commit_all(project.path, "a baseline of unknown origin")
    before = registry.read_bytes()
    result = project.run("--promote-to=candidate")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    warning = "the baseline records no model identity: it may have been recorded under any model"
    result.stdout.fnmatch_lines(
        [f"  model differs from the baseline's: {warning}", "*overall: pass*", "*BLOCKED*"]
    )
    result.stdout.fnmatch_lines(
        [f"  faster_whisper on cpu: the baselines were recorded under another model: {warning}"]
    )
    assert registry.read_bytes() == before


def test_production_ceiling_blocks(project, registry):
    text = registry.read_text().replace("status: experimental\n", "status: candidate\n")
    text = text.replace("{wer: 0.5}", "{wer: 0.01}").replace("to: experimental,", "to: candidate,")
    registry.write_text(text)
    commit_all(project.path)
    result = project.run("--promote-to=production")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*faster_whisper on cpu: corpus WER 0.* above the production ceiling 0.01"])
    assert registry.read_text() == text


def test_a_conftest_hook_can_veto(project, registry):
    project.pytester.makeconftest(
        """
        def pytest_speechlab_promotion(config, model, target, results):
            if target == "candidate" and results.metrics()["cpu"]["cases"] < 10:
                return "fewer than 10 cases: not enough evidence"
        """
    )
    commit_all(project.path, "a veto of our own")
    before = registry.read_bytes()
    result = project.run("--promote-to=candidate")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*BLOCKED*", "  fewer than 10 cases: not enough evidence"])
    assert registry.read_bytes() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--promote-to=production"],
            "faster_whisper: experimental -> production: skips candidate; force it*",
        ),
        (
            ["--promote-to=production", "--promote-force"],
            "--promote-force: give the reason with --promote-reason",
        ),
        (["--promote-to=candidate", "--update-baselines"], "--promote-to: not with --update-baselines*"),
        (
            ["--promote-to=candidate", "--speech-model=faster_whisper,whisper"],
            "--promote-to: promote one model*",
        ),
        (
            ["--promote-reason=why"],
            "--promote-reason/--promote-force/--promote-restore: only with --promote-to",
        ),
    ],
)
def test_impossible_promotions_are_usage_errors_before_the_run(project, registry, args, message):
    assert_refused(project, registry, message, *args, promote=False)


def test_forced_promotion_skips_a_stage_with_its_reason(project, registry):
    result = project.run("--promote-to=production", "--promote-force", "--promote-reason=urgent fix")
    assert result.ret == 0, result.stdout.str()
    change = load_registry(registry).get("faster_whisper").history[-1]
    assert (change["from"], change["to"], change["forced"], change["reason"]) == (
        "experimental",
        "production",
        True,
        "urgent fix",
    )


def test_registry_thresholds_apply_unless_given_on_the_command_line(project, registry):
    data = project.read_baseline()
    case = project.cases[1]["id"]
    data["cases"][case]["wer"] = round(data["cases"][case]["wer"] - 0.01, 4)  # within the default 0.02
    project.write_baseline(data)
    assert project.run("-k", "test_wer").ret == 0
    registry.write_text(
        registry.read_text().replace("    thresholds:\n", "    thresholds:\n      wer_tolerance: 0.0\n")
    )
    strict = project.run("-k", "test_wer")
    assert strict.ret == pytest.ExitCode.TESTS_FAILED
    strict.stdout.fnmatch_lines(["*tolerance +0 absolute*"])
    assert project.run("-k", "test_wer", "--speech-wer-tolerance=0.02").ret == 0


def test_speechlab_promote_runs_the_gate_in_process(project, registry):
    """The console command: ``speechlab promote`` is pytest with --promote-to, so it passes
    the same gate; its exit status is pytest's."""
    command = [sys.executable, "-m", "pytest_speechlab.cli", "promote", "faster_whisper", "--to", "candidate"]
    done = subprocess.run(
        [*command, "--", "-p", "no:cacheprovider"], cwd=project.path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "experimental -> candidate, recorded in" in done.stdout
    registry_data = yaml.safe_load(registry.read_text())
    assert registry_data["models"]["faster_whisper"]["status"] == "candidate"
    commit_all(project.path, "promoted")
    for args, message in (
        (["-k", "test_wer"], "-k given"),
        (
            ["suites/test_asr.py::test_wer"],
            "tests chosen (suites/test_asr.py::test_wer, not the configured suites)",
        ),
    ):
        refused = subprocess.run(
            [*command[:-1], "production", "--", *args], cwd=project.path, capture_output=True, text=True
        )
        assert refused.returncode == pytest.ExitCode.USAGE_ERROR
        assert f"{message}: a promotion runs the configured suite whole" in refused.stderr
    assert yaml.safe_load(registry.read_text())["models"]["faster_whisper"]["status"] == "candidate"


def test_outside_git_a_promotion_needs_force_and_a_reason_and_says_so(project, recorded):
    registry = project.path / "registry.yaml"
    registry.write_text(REGISTRY)
    recorded(project)
    line = (
        "--promote-to: not a git repository: the baselines, manifest and thresholds cannot be "
        "verified as committed (outside git: --promote-force with --promote-reason, or speechlab "
        "promote --force --reason)"
    )
    assert_refused(project, registry, line)
    forced = project.run("--promote-to=candidate", "--promote-force", "--promote-reason=no git on this box")
    assert forced.ret == 0, forced.stdout.str()
    forced.stdout.fnmatch_lines(
        ["  NOT verified, forced (no git on this box): not a git repository: the baselines, manifest*"]
    )
    change = load_registry(registry).get("faster_whisper").history[-1]
    assert change["forced"] is True and change["tree"].startswith("not a git repository")
    assert change["tree_verified"] is False

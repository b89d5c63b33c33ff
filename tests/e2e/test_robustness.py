"""The robustness suite through the plugin: real Faster-Whisper on perturbed audio, and a toy
engine for the failure path (hypothesis's shrunk example in the report)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from pytest_speechlab.core.perturb import KINDS

from ..projects import use_suite


@pytest.fixture
def robust_project(project):
    """The short cases, the one tiny.en mishears ("clubs") tagged ``robustness``, and only the
    robustness suite: each robustness case costs twenty-odd transcriptions."""
    for case in project.cases:
        if case["id"] == "cards_002":
            case["tags"] = [*case["tags"], "robustness"]
    project.write_manifest()
    (project.path / "suites" / "test_asr.py").unlink()
    use_suite(project.path, "test_robustness")
    return project


@pytest.mark.slow  # run first: see tests/conftest.py
def test_robustness_update_then_gate(robust_project):
    out = robust_project.path / "r.json"
    first = robust_project.run("--update-baselines", f"--speech-results={out}")
    assert first.ret == 0, first.stdout.str()
    speech = [c["id"] for c in robust_project.cases if "robustness" in c["tags"]]
    # every kind for the robustness case, and the sweep
    first.assert_outcomes(passed=len(speech) * (len(KINDS) + 5))
    data = json.loads(out.read_text())
    kinds = Counter(e["kind"] for e in data["robustness"] if not e["recorded"])
    assert set(kinds) == set(KINDS)
    drawn = [e for e in data["robustness"] if not e["recorded"]]
    assert all(e["wer"] >= 0 and e["limit"] == pytest.approx(e["clean_wer"] + 0.3) for e in drawn)
    stored = json.loads(robust_project.baseline.read_text())["cases"]
    assert set(stored[speech[0]]["robustness"]) == {f"noise-snr{s}" for s in (30, 20, 10, 5, 0)}

    # a regression under noise only: the clean WER stays, the stored sweep point was better
    case = speech[0]  # tiny.en mishears "clubs" in it, noisy or not
    measured = stored[case]["robustness"]["noise-snr30"]
    assert measured > 0.02
    baseline = robust_project.read_baseline()
    baseline["cases"][case]["robustness"]["noise-snr30"] = 0.0
    robust_project.write_baseline(baseline)
    second = robust_project.run("-k", "sweep")
    assert second.ret == 1
    second.stdout.fnmatch_lines(
        [
            f"*{case} [[]faster_whisper on cpu[]]: WER with noise at 30 dB SNR {measured:.4g} "
            "exceeds limit 0.02*"
        ]
    )
    second.assert_outcomes(passed=len(speech) * 5 - 1, failed=1)


TOY_QUIET = '''
import numpy as np
from pytest_speechlab.engines import ModelIdentity


class ToyQuietEngine:
    """A deterministic toy engine, only for testing the robustness suite's control flow: it
    hears "ten of clubs" in audio louder than -26 dBFS RMS and nothing in quieter audio."""

    name = "toy_quiet"
    tasks = ("asr",)
    sample_rate = 16000
    default_options = {}
    identity = ModelIdentity("toy 0", "toy", "none", "none", "cpu", "none")

    @classmethod
    def unavailable(cls, device):
        return None

    @classmethod
    def load(cls, source, device, options):
        return cls()

    def transcribe(self, audio, language):
        loud = 20 * np.log10(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) > -26
        return "ten of clubs" if loud else ""


def pytest_speechlab_engines():
    return {"toy_quiet": ToyQuietEngine}
'''


def test_robustness_failure_shrinks_to_the_mildest_breaking_perturbation(robust_project):
    robust_project.pytester.makeconftest(TOY_QUIET)
    quiet = next(c for c in robust_project.cases if c["id"] == "cards_001")
    robust_project.write_manifest([{**quiet, "tags": [*quiet["tags"], "robustness"]}])
    wide = "--speech-robustness-examples=wide"  # the CI profile's three draws may all be mild
    result = robust_project.run(
        "-k", "test_robustness and gain", wide, "--speech-new-cases=pass", model="toy_quiet"
    )
    assert result.ret == 1
    # cards_001 is at -19.8 dBFS: the first gain that takes it under -26 dBFS on the 0.5 dB grid
    result.stdout.fnmatch_lines(
        [
            "*cards_001 [[]toy_quiet on cpu[]]: WER with gain -6.5 dB 1 exceeds limit 0.3 (clean WER 0, *",
        ]
    )


def test_robustness_options(robust_project):
    wrong = robust_project.run("--speech-robustness-examples=many")
    assert wrong.ret == pytest.ExitCode.USAGE_ERROR
    pyproject = robust_project.path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("warmup = 0", 'robustness_examples = "lots"'))
    bad = robust_project.run()
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*robustness_examples must be 'ci' or 'wide'*"])

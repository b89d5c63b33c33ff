"""Text-to-speech engines and the health gate, with the real Piper voice and espeak-ng."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from pytest_speechlab.core.health import health

from ..projects import commit_all, use_suite


def test_health_measures_what_it_says():
    rate = 16000
    tone = 0.5 * np.sin(2 * np.pi * 220 * np.arange(rate) / rate).astype(np.float32)
    audio = np.concatenate([np.zeros(rate // 2, np.float32), tone, np.zeros(rate // 4, np.float32)])
    audio[rate : rate + 16] = 1.0  # sixteen clipped samples
    h = health(audio, rate, "abcd")
    assert h["duration_s"] == pytest.approx(1.75)
    assert h["lead_silence_s"] == pytest.approx(0.5, abs=0.011)
    assert h["trail_silence_s"] == pytest.approx(0.25, abs=0.011)
    assert h["clipping"] == pytest.approx(16 / len(audio), rel=1e-3)
    assert h["peak_dbfs"] == pytest.approx(0.0)
    assert h["s_per_char"] == pytest.approx(1.75 / 4)


@pytest.fixture
def tts_project(project):
    use_suite(project.path, "test_tts")
    return project


@pytest.mark.parametrize("model", ["piper", "espeak"])
def test_tts_update_then_pass(tts_project, model):
    if model == "espeak" and shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    out = tts_project.path / "r.json"
    first = tts_project.run("--update-baselines", model=model)
    assert first.ret == 0, first.stdout.str()
    data = json.loads((tts_project.path / "baselines" / model / "cpu.json").read_text())
    speech = [c["id"] for c in tts_project.cases if c["text"]]
    assert set(data["cases"]) == set(speech)  # the silent case has no text to speak
    entry = data["cases"][speech[0]]["tts"]
    assert entry["duration_s"] > 0.3 and entry["latency_min_ms"] > 0
    assert data["judge"].startswith("faster_whisper tiny.en int8 sha256:")  # the project's options
    assert all("judge_wer" in data["cases"][c]["tts"] for c in speech)
    second = tts_project.run(f"--speech-results={out}", model=model)
    assert second.ret == 0, second.stdout.str()
    second.stdout.fnmatch_lines(
        ["*tts case*duration s / base*", "SKIPPED*no selected model does speech-to-text"]
    )
    result = json.loads(out.read_text())
    assert {c["verdict"] for c in result["tts_cases"]} == {"pass"}
    assert result["tts_cases"][0]["sample_rate"] == 22050
    assert all(c["judge_wer"] == data["cases"][c["id"]]["tts"]["judge_wer"] for c in result["tts_cases"])


@pytest.mark.slow  # run first: see tests/conftest.py
def test_tts_duration_and_intelligibility_gates(tts_project, recorded):
    """Two regressions staged in one baseline: the voice used to be faster, and the judge (real
    Faster-Whisper tiny.en) used to hear Piper say "queen of hearts" right. Both fail, each with
    its line (that another judge's figures are not gated is the next test's)."""
    recorded(tts_project, "piper")
    path = tts_project.path / "baselines" / "piper" / "cpu.json"
    data = json.loads(path.read_text())
    case = tts_project.cases[1]["id"]
    duration = data["cases"][case]["tts"]["duration_s"]
    data["cases"][case]["tts"]["duration_s"] = round(duration / 1.5, 4)  # as if it used to be faster
    heard = data["cases"][case]["tts"]["judge_wer"]
    assert heard > 0.1  # tiny.en mishears this one; the test relies on it
    data["cases"][case]["tts"]["judge_wer"] = 0.0  # as if it used to understand every word
    path.write_text(json.dumps(data))
    result = tts_project.run(model="piper")
    assert result.ret == 1
    result.stdout.fnmatch_lines([f"{case} [[]piper on cpu[]]: TTS duration s {duration:.4g} exceeds limit *"])
    result.stdout.fnmatch_lines(
        [f"*{case} [[]piper on cpu[]]: TTS judge WER {heard:.4g} exceeds limit 0.02*", "*REF:*"]
    )
    failed = {line.split()[1] for line in result.stdout.lines if line.startswith("FAILED ")}
    assert failed == {
        f"suites/test_tts.py::test_tts[piper-cpu-{case}]",
        f"suites/test_tts.py::test_tts_intelligibility[piper-cpu-{case}]",
    }


def test_a_changed_judge_vetoes_a_tts_promotion(tts_project, recorded):
    """The judge is staged as changed in the baseline: the intelligibility figures cannot be
    compared, so the voice would go through unheard; the promotion is blocked."""
    recorded(tts_project, "piper")
    path = tts_project.path / "baselines" / "piper" / "cpu.json"
    data = json.loads(path.read_text())
    data["judge"] = "faster_whisper small.en float32 sha256:0"
    path.write_text(json.dumps(data))
    registry = tts_project.path / "registry.yaml"
    registry.write_text(
        "schema: 1\nmodels:\n  piper:\n    status: experimental\n    capabilities: [tts]\n"
        "    history:\n      - {from: null, to: experimental, reason: added}\n"
    )
    commit_all(tts_project.path)
    before = registry.read_bytes()
    result = tts_project.run("--promote-to=candidate", model="piper")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "speechlab: piper: promotion to candidate BLOCKED; the registry is unchanged",
            "*piper on cpu: the gate's verdict is re-record*",
            "*(TTS): the baseline was judged by faster_whisper small.en float32 sha256:0, this run by*",
        ]
    )
    result.stdout.fnmatch_lines(  # not compared, and not passed either: a re-record is asked for
        ["*judged by faster_whisper small.en*not comparable: re-record with --update-baselines"]
    )
    assert registry.read_bytes() == before


def test_tts_judge_options(tts_project, recorded):
    recorded(tts_project, "piper")
    none = tts_project.run("--speech-judge=none", "-k", "intelligibility", model="piper")
    assert none.ret == 0
    none.assert_outcomes(skipped=2)
    none.stdout.fnmatch_lines(["*no judge: --speech-judge=none*"])
    wrong = tts_project.run("--speech-judge=piper", model="piper")
    assert wrong.ret == pytest.ExitCode.USAGE_ERROR
    wrong.stderr.fnmatch_lines(["*--speech-judge: piper does not do speech-to-text*"])


def test_espeak_speaks_a_text_that_starts_with_a_dash():
    """ "-5 degrees" was read by espeak-ng as its option -5 and failed; now it is spoken."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    from pytest_speechlab.engines.espeak import EspeakEngine

    engine = EspeakEngine.load(None, "cpu", dict(EspeakEngine.default_options))
    audio = engine.synthesize("-5 degrees outside", "en")
    assert health(audio, engine.output_sample_rate, "-5 degrees outside")["duration_s"] > 0.5

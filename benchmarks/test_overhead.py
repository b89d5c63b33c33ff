"""How much the plugin adds to inference: the suite against a plain loop over the same cases.

Both load tiny.en once and transcribe every case once with the same options; the suite also
decodes, scores and reports. ``SPEECHLAB_BENCH_CASES`` sets the manifest size (40 by default,
1000 for the figure in docs/scale.md), ``SPEECHLAB_BENCH_BEAM`` the beam size of both (5 by
default, as the engine's). Read the ratio from pytest-benchmark's table, or from
``extra_info`` in ``--benchmark-json``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from pytest_speechlab.engines.faster_whisper import FasterWhisperEngine
from pytest_speechlab.io.audio import load_audio
from pytest_speechlab.io.devices import one_blas_thread
from pytest_speechlab.io.manifest import load_manifest
from tests.conftest import bundled_cases, use_suite

CASES = int(os.environ.get("SPEECHLAB_BENCH_CASES", "40"))
BEAM = int(os.environ.get("SPEECHLAB_BENCH_BEAM", "5"))
TIMES: dict[str, float] = {}


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CASES short speech cases, each its own file so that both sides decode every one."""
    folder = tmp_path_factory.mktemp("bench")
    speech = [c for c in bundled_cases() if "nonspeech" not in c.tags and c.duration_s <= 5]
    entries = []
    for i in range(CASES):
        case = speech[i % len(speech)]
        name = f"c{i:04d}{case.audio.suffix}"
        shutil.copy(case.audio, folder / name)
        entries.append({"id": f"c{i:04d}", "audio": name, "text": case.text})
    path = folder / "manifest.yaml"
    path.write_text(yaml.safe_dump({"cases": entries}))
    return path


def plain_loop(path: Path) -> list[str]:
    engine = FasterWhisperEngine.load(None, "cpu", {**FasterWhisperEngine.default_options, "beam_size": BEAM})
    one_blas_thread()  # as the suite does: the loop at its best, not slowed by spinning BLAS threads
    return [engine.transcribe(load_audio(c.audio, 16000), c.language) for c in load_manifest(path).cases]


@pytest.mark.benchmark(group="plugin-overhead", warmup=False)
def test_plain_loop(benchmark, manifest):
    texts = benchmark.pedantic(plain_loop, args=(manifest,), rounds=1, iterations=1)
    assert len(texts) == CASES
    TIMES["plain"] = benchmark.stats.stats.median


@pytest.mark.benchmark(group="plugin-overhead", warmup=False)
def test_suite_run(benchmark, pytester, manifest):
    pytester.makefile(".toml", pyproject="[tool.speechlab]\n")
    use_suite(pytester.path, "test_asr")
    suite = pytester.path / "suites" / "test_asr.py"
    args = (
        "-p",
        "no:cacheprovider",
        "-q",
        "--speech-model=faster_whisper",
        "--speech-device=cpu",
        f"--speech-manifest={manifest}",
        "--speech-new-cases=pass",
        f"--speech-option=faster_whisper.beam_size={BEAM}",
        str(suite),
    )
    result = benchmark.pedantic(pytester.runpytest_inprocess, args=args, rounds=1, iterations=1)
    assert result.ret == 0
    # wer and cer per case; corpus, slices, hallucination; no latency case
    result.assert_outcomes(passed=2 * CASES + 3, skipped=1)
    if "plain" in TIMES:
        benchmark.extra_info["plain_loop_s"] = TIMES["plain"]
        benchmark.extra_info["ratio_to_plain_loop"] = benchmark.stats.stats.median / TIMES["plain"]

"""The SeamlessM4T v2 adapter, run end to end on a tiny random checkpoint built offline.

The checkpoint (``tiny_seamless.py``) goes through transformers' real ``from_pretrained``
loaders and generation, for speech-to-text and text-to-speech; nothing is downloaded (the hub
branch is checked with huggingface_hub's snapshot helper replaced by a local folder).
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.full  # the torch-based engines: CI's second stage
transformers = pytest.importorskip("transformers")

import huggingface_hub  # noqa: E402
import torch  # noqa: E402

from pytest_speechlab.engines.seamless import SeamlessM4TEngine  # noqa: E402
from pytest_speechlab.engines.sources import safetensors_digest  # noqa: E402
from pytest_speechlab.errors import SpeechlabError  # noqa: E402

from ..projects import error_line_without, use_suite  # noqa: E402
from .tiny_seamless import build_tiny_seamless_checkpoint  # noqa: E402

HUB_ID = "facebook/seamless-m4t-v2-large"
SAMPLES_PER_UNIT = 320  # the vocoder's upsampling: 50 units per second at 16 kHz


def options(**changes: Any) -> dict[str, Any]:
    return {**SeamlessM4TEngine.default_options, **changes}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_seamless_checkpoint(tmp_path_factory.mktemp("seamless") / "tiny-seamless-m4t-v2")


@pytest.fixture(scope="module")
def short(checkpoint: Path) -> SeamlessM4TEngine:
    """A small token limit, so that the tiny model (which never stops by itself) is quick."""
    return SeamlessM4TEngine.load(str(checkpoint), "cpu", options(max_new_tokens=4))


def speech_like(seconds: float = 1.5, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2
    noise = 0.01 * np.random.default_rng(0).standard_normal(t.size)
    return (tone + noise).astype(np.float32)


def test_loads_through_transformers_from_pretrained(
    checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, Any, dict[str, Any]]] = []
    for cls in (transformers.SeamlessM4Tv2Model, transformers.AutoProcessor):
        original = cls.from_pretrained.__func__

        def spy(klass: type, path: Any, _original: Any = original, **kwargs: Any) -> Any:
            calls.append((klass.__name__, path, kwargs))
            return _original(klass, path, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", classmethod(spy))
    loaded = SeamlessM4TEngine.load(str(checkpoint), "cpu", options())
    assert sorted(name for name, _, _ in calls) == ["AutoProcessor", "SeamlessM4Tv2Model"]
    assert all(path == checkpoint for _, path, _ in calls)
    model_kwargs = next(kwargs for name, _, kwargs in calls if name == "SeamlessM4Tv2Model")
    assert model_kwargs["dtype"] == torch.float32
    assert loaded.tasks == ("asr", "tts")
    assert loaded.output_sample_rate == 16000


def test_identity(short: SeamlessM4TEngine, checkpoint: Path) -> None:
    identity = short.identity
    assert identity.model_id == "tiny-seamless-m4t-v2"
    assert identity.source == f"path:{checkpoint}"
    assert identity.revision == "sha256:" + safetensors_digest(checkpoint)
    assert len(identity.revision) == len("sha256:") + 64
    assert (identity.device, identity.compute_type) == ("cpu", "float32")
    assert identity.engine == f"transformers {version('transformers')}"
    assert set(identity.packages) == {"transformers", "torch"}
    assert identity.options["max_new_tokens"] == 4
    assert not {"dtype", "revision", "cache_dir"} & set(identity.options)


def test_transcribe_returns_text_within_max_new_tokens(short: SeamlessM4TEngine, checkpoint: Path) -> None:
    text = short.transcribe(speech_like(), "en")
    assert isinstance(text, str) and text
    assert short.transcribe(speech_like(), "en") == text  # greedy: deterministic
    # The tiny model never ends by itself (see tiny_seamless.py), so the limit stopped it: a
    # higher one goes on from the same greedy prefix.
    longer = SeamlessM4TEngine.load(str(checkpoint), "cpu", options(max_new_tokens=8))
    text8 = longer.transcribe(speech_like(), "en")
    assert text8.startswith(text) and len(text8) > len(text)
    assert short.transcribe(speech_like(), "eng") == text  # a Seamless code is taken as it is


def test_synthesize_returns_float32_speech_at_16_khz(short: SeamlessM4TEngine, checkpoint: Path) -> None:
    wave = short.synthesize("Hello there.", "en")
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert wave.size > 0 and wave.size % SAMPLES_PER_UNIT == 0
    assert np.isfinite(wave).all()
    np.testing.assert_array_equal(short.synthesize("Hello there.", "en"), wave)
    other_voice = SeamlessM4TEngine.load(str(checkpoint), "cpu", options(speaker_id=1))
    assert not np.array_equal(other_voice.synthesize("Hello there.", "en"), wave)


def test_language_option_overrides_the_case(checkpoint: Path, short: SeamlessM4TEngine) -> None:
    french = SeamlessM4TEngine.load(str(checkpoint), "cpu", options(max_new_tokens=4, language="fra"))
    assert french.transcribe(speech_like(), "en") == short.transcribe(speech_like(), "fr")


def test_unknown_language_is_one_line(short: SeamlessM4TEngine) -> None:
    with pytest.raises(SpeechlabError) as err:
        short.transcribe(speech_like(), "de")
    assert str(err.value) == "seamless_m4t: language 'de' is not one this model knows (eng, fra)"


def test_bad_dtype(checkpoint: Path) -> None:
    with pytest.raises(SpeechlabError, match="dtype must be one of float32, float16, bfloat16, not 'int8'"):
        SeamlessM4TEngine.load(str(checkpoint), "cpu", options(dtype="int8"))


def test_unavailable() -> None:
    assert SeamlessM4TEngine.unavailable("cpu") is None
    if not torch.cuda.is_available():
        assert SeamlessM4TEngine.unavailable("cuda") == "cuda: torch sees no CUDA device"


def test_folder_without_checkpoint_files(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(SpeechlabError) as err:
        SeamlessM4TEngine.load(str(tmp_path), "cpu", options())
    assert str(err.value) == (
        f"seamless_m4t: {tmp_path} is not a SeamlessM4T v2 folder (missing generation_config.json, "
        "model.safetensors, preprocessor_config.json, tokenizer.json)"
    )


def test_revision_option_is_for_hub_ids_only(checkpoint: Path) -> None:
    with pytest.raises(SpeechlabError, match="revision applies to hub ids"):
        SeamlessM4TEngine.load(str(checkpoint), "cpu", options(revision="main"))


def test_hub_id_uses_snapshot_commit(
    checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hub branch, without network: huggingface_hub's snapshot helper returns a local folder
    laid out like its cache (``snapshots/<commit>``)."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = tmp_path / "snapshots" / commit
    snapshot.parent.mkdir()
    snapshot.symlink_to(checkpoint, target_is_directory=True)
    asked: list[tuple[str, dict[str, Any]]] = []

    def snapshot_download(repo_id: str, **kwargs: Any) -> str:
        asked.append((repo_id, kwargs))
        return str(snapshot)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    loaded = SeamlessM4TEngine.load(None, "cpu", options(revision="v1", cache_dir=str(tmp_path)))
    assert asked == [
        (
            HUB_ID,
            {
                "revision": "v1",
                "cache_dir": str(tmp_path),
                "allow_patterns": ["*.json", "*.safetensors", "*.model"],
            },
        )
    ]
    assert loaded.identity.source == f"hub:{HUB_ID}"
    assert loaded.identity.model_id == HUB_ID
    assert loaded.identity.revision == f"commit:{commit}"


def test_hub_failure_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(repo_id: str, **kwargs: Any) -> str:
        raise OSError("outgoing traffic has been disabled.\nSet HF_HUB_OFFLINE=0.")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(SpeechlabError) as err:
        SeamlessM4TEngine.load(HUB_ID, "cpu", options())
    assert str(err.value) == (
        f"seamless_m4t: cannot fetch {HUB_ID} from the hub: "
        "outgoing traffic has been disabled. Set HF_HUB_OFFLINE=0."
    )


def test_module_imports_without_torch_or_transformers() -> None:
    assert error_line_without(["torch", "transformers"], "SeamlessM4TEngine.unavailable('cpu')") == (
        "seamless_m4t: transformers is not installed (pip install 'pytest-speechlab[seamless]')"
    )


def test_broken_backend_is_named_in_one_line(checkpoint: Path) -> None:
    """A backend that fails on import (here transformers' audio helpers; in the wild a
    torchaudio built for another torch) is named, not hidden behind "Could not import module"."""
    load = f"SeamlessM4TEngine.load({str(checkpoint)!r}, 'cpu', dict(SeamlessM4TEngine.default_options))"
    assert error_line_without(["transformers.audio_utils"], load) == (
        "seamless_m4t: transformers cannot import SeamlessM4T: "
        "import of transformers.audio_utils halted; None in sys.modules"
    )


@pytest.mark.slow  # run first: see tests/conftest.py
def test_suite_runs_both_tasks_through_the_plugin(project, checkpoint):
    """The bundled suites, ASR and TTS, on the tiny checkpoint: the whole path, end to end."""
    use_suite(project.path, "test_tts")
    args = (f"--speech-source=seamless_m4t={checkpoint}", "--speech-option=seamless_m4t.max_new_tokens=4")
    assert project.run("--update-baselines", *args, model="seamless_m4t").ret == 0
    out = project.path / "r.json"
    result = project.run(f"--speech-results={out}", *args, model="seamless_m4t")
    assert result.ret == 0, result.stdout.str()
    data = json.loads(out.read_text())
    assert data["identity"]["source"] == f"path:{checkpoint}"
    assert data["identity"]["options"]["max_new_tokens"] == 4
    assert len(data["cases"]) == 3 and len(data["tts_cases"]) == 2
    assert {c["sample_rate"] for c in data["tts_cases"]} == {16000}
    baseline = json.loads((project.path / "baselines" / "seamless_m4t" / "cpu.json").read_text())
    assert baseline["identity"]["revision"] == data["identity"]["revision"]
    assert "tts" in baseline["cases"][project.cases[0]["id"]]

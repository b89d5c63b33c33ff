"""The LFM2.5-Audio adapter, run end to end on a tiny random checkpoint built offline.

liquid-audio needs Python >= 3.12, so the module skips where it is absent. The checkpoint
(``tiny_lfm.py``) goes through liquid-audio's real ``from_pretrained`` loaders, ASR and TTS code
paths; nothing is downloaded (the hub branch is checked with liquid-audio's snapshot helper
replaced by a local folder).
"""

from __future__ import annotations

import hashlib
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.full  # the torch-based engines: CI's second stage
liquid_audio = pytest.importorskip("liquid_audio")

import torch  # noqa: E402
from liquid_audio import utils as liquid_utils  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

from pytest_speechlab.engines.lfm_audio import LFMAudioEngine  # noqa: E402
from pytest_speechlab.errors import SpeechlabError  # noqa: E402

from ..projects import error_line_without, use_suite  # noqa: E402
from .tiny_lfm import build_tiny_lfm_checkpoint  # noqa: E402

# liquid-audio 1.3 still passes past_key_values to transformers' Lfm2Model (renamed cache in 5.x).
pytestmark = pytest.mark.filterwarnings("ignore:`past_key_values` is deprecated:FutureWarning")

HUB_ID = "LiquidAI/LFM2.5-Audio-1.5B"
SAMPLES_PER_FRAME = 1920  # one 12.5 Hz audio frame at 24 kHz


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_lfm_checkpoint(tmp_path_factory.mktemp("lfm") / "tiny-lfm2-audio")


@pytest.fixture(scope="module")
def engine(checkpoint: Path) -> LFMAudioEngine:
    """Loaded with the default options: what a user without settings gets."""
    return LFMAudioEngine.load(str(checkpoint), "cpu", dict(LFMAudioEngine.default_options))


@pytest.fixture(scope="module")
def short(checkpoint: Path) -> LFMAudioEngine:
    """Small generation limits, so that the tiny model (which never stops by itself) is quick."""
    options = {**LFMAudioEngine.default_options, "max_new_tokens": 3, "max_audio_frames": 6}
    return LFMAudioEngine.load(str(checkpoint), "cpu", options)


def speech_like(seconds: float = 1.5, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2
    noise = 0.01 * np.random.default_rng(0).standard_normal(t.size)
    return (tone + noise).astype(np.float32)


def test_loads_through_liquid_audio_from_pretrained(
    checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, Any, dict[str, Any]]] = []
    for cls in (liquid_audio.LFM2AudioModel, liquid_audio.LFM2AudioProcessor):
        original = cls.from_pretrained.__func__

        def spy(klass: type, repo_id: Any, _original: Any = original, **kwargs: Any) -> Any:
            calls.append((klass.__name__, repo_id, kwargs))
            return _original(klass, repo_id, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", classmethod(spy))
    loaded = LFMAudioEngine.load(str(checkpoint), "cpu", dict(LFMAudioEngine.default_options))
    assert sorted(name for name, _, _ in calls) == ["LFM2AudioModel", "LFM2AudioProcessor"]
    for _, repo_id, kwargs in calls:
        # a Path: liquid-audio would take a str for a hub id and try to download it
        assert isinstance(repo_id, Path) and repo_id == checkpoint
        assert kwargs["device"] == "cpu"
    model_kwargs = next(kwargs for name, _, kwargs in calls if name == "LFM2AudioModel")
    assert model_kwargs["dtype"] == torch.float32
    assert loaded.tasks == ("asr", "tts")


def test_identity(engine: LFMAudioEngine, checkpoint: Path) -> None:
    digest = hashlib.sha256()
    for path in sorted(checkpoint.rglob("*.safetensors")):
        file_hash = hashlib.sha256(path.read_bytes()).hexdigest()
        digest.update(f"{path.relative_to(checkpoint).as_posix()} {file_hash}\n".encode())
    identity = engine.identity
    assert identity.model_id == "tiny-lfm2-audio"
    assert identity.source == f"path:{checkpoint}"
    assert identity.revision == "sha256:" + digest.hexdigest()
    assert identity.device == "cpu"
    assert identity.compute_type == "float32"
    assert identity.engine == f"liquid-audio {version('liquid-audio')}"
    assert set(identity.packages) == {"liquid-audio", "torch", "transformers"}
    assert identity.options["max_new_tokens"] == LFMAudioEngine.default_options["max_new_tokens"]
    assert "dtype" not in identity.options and "revision" not in identity.options


def test_transcribe_returns_text_within_max_new_tokens(short: LFMAudioEngine, checkpoint: Path) -> None:
    text = short.transcribe(speech_like(), "en")
    assert isinstance(text, str)
    tokens = AutoTokenizer.from_pretrained(checkpoint).encode(text, add_special_tokens=False)
    # The tiny model emits one letter token per step and never ends by itself, so the transcript
    # is exactly as long as the limit allows: the limit, not the model, stopped it.
    assert len(tokens) == short.identity.options["max_new_tokens"] == 3
    assert short.transcribe(speech_like(), "en") == text  # greedy: deterministic


def test_transcribe_pads_very_short_audio(short: LFMAudioEngine) -> None:
    assert isinstance(short.transcribe(np.zeros(100, np.float32), None), str)


def test_synthesize_returns_bounded_float32_waveform(short: LFMAudioEngine) -> None:
    wave = short.synthesize("Hello there.", "en")
    assert LFMAudioEngine.output_sample_rate == 24000
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert wave.size > 0 and np.isfinite(wave).all()
    frames = short.identity.options["max_audio_frames"]
    assert wave.size <= frames * SAMPLES_PER_FRAME
    assert wave.size == frames * SAMPLES_PER_FRAME  # the tiny model never ends audio by itself
    np.testing.assert_array_equal(short.synthesize("Hello there.", "en"), wave)


def test_sampling_is_seeded_and_leaves_global_rng_alone(checkpoint: Path) -> None:
    options = {
        **LFMAudioEngine.default_options,
        "max_new_tokens": 4,
        "max_audio_frames": 3,
        "text_temperature": 1,  # an int from a config file still samples
        "text_top_k": 50,
        "audio_temperature": 0.8,
        "audio_top_k": 64,
    }
    sampled = LFMAudioEngine.load(str(checkpoint), "cpu", options)
    state = torch.get_rng_state()
    assert sampled.transcribe(speech_like(), None) == sampled.transcribe(speech_like(), None)
    np.testing.assert_array_equal(sampled.synthesize("hi", None), sampled.synthesize("hi", None))
    assert torch.equal(torch.get_rng_state(), state)


def test_unavailable() -> None:
    assert LFMAudioEngine.unavailable("cpu") is None
    if torch.cuda.is_available():
        assert LFMAudioEngine.unavailable("cuda") is None
    else:
        assert LFMAudioEngine.unavailable("cuda") == "cuda: torch sees no CUDA device"


def test_missing_local_folder(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(SpeechlabError) as err:
        LFMAudioEngine.load(str(missing), "cpu", dict(LFMAudioEngine.default_options))
    message = str(err.value)
    assert "\n" not in message and str(missing) in message and "no such file or folder" in message


def test_folder_without_checkpoint_files(tmp_path: Path) -> None:
    with pytest.raises(SpeechlabError) as err:
        LFMAudioEngine.load(str(tmp_path), "cpu", dict(LFMAudioEngine.default_options))
    message = str(err.value)
    assert "\n" not in message
    assert "missing config.json, tokenizer.json, model.safetensors" in message


def test_revision_option_is_for_hub_ids_only(checkpoint: Path) -> None:
    options = {**LFMAudioEngine.default_options, "revision": "main"}
    with pytest.raises(SpeechlabError, match="revision applies to hub ids"):
        LFMAudioEngine.load(str(checkpoint), "cpu", options)


def test_hub_id_uses_snapshot_commit(
    checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hub branch, without network: liquid-audio's snapshot helper returns a local folder
    laid out like the Hugging Face cache (``snapshots/<commit>``)."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = tmp_path / "snapshots" / commit
    snapshot.parent.mkdir()
    snapshot.symlink_to(checkpoint, target_is_directory=True)
    asked: list[tuple[str, str | None]] = []

    def get_model_dir(repo_id: str, *, revision: str | None = None) -> Path:
        asked.append((repo_id, revision))
        return snapshot

    monkeypatch.setattr(liquid_utils, "get_model_dir", get_model_dir)
    loaded = LFMAudioEngine.load(None, "cpu", {**LFMAudioEngine.default_options, "revision": "v1"})
    assert asked == [(HUB_ID, "v1")]
    assert loaded.identity.source == f"hub:{HUB_ID}"
    assert loaded.identity.model_id == HUB_ID
    assert loaded.identity.revision == f"commit:{commit}"


def test_hub_failure_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(repo_id: str, *, revision: str | None = None) -> Path:
        raise OSError("outgoing traffic has been disabled.\nSet HF_HUB_OFFLINE=0.")

    monkeypatch.setattr(liquid_utils, "get_model_dir", offline)
    with pytest.raises(SpeechlabError) as err:
        LFMAudioEngine.load(HUB_ID, "cpu", dict(LFMAudioEngine.default_options))
    assert str(err.value) == (
        f"lfm2_5_audio: cannot fetch {HUB_ID} from the hub: "
        "outgoing traffic has been disabled. Set HF_HUB_OFFLINE=0."
    )


def test_module_imports_without_torch_or_liquid_audio() -> None:
    assert error_line_without(["torch", "liquid_audio"], "LFMAudioEngine.unavailable('cpu')") == (
        "lfm2_5_audio: liquid-audio is not installed "
        "(needs Python >= 3.12: pip install 'pytest-speechlab[lfm]')"
    )


def test_suite_runs_both_tasks_through_the_plugin(project, checkpoint):
    """The bundled suites, ASR and TTS, on the tiny checkpoint: the whole path, end to end."""
    import json

    use_suite(project.path, "test_tts")
    args = (
        f"--speech-source=lfm2_5_audio={checkpoint}",
        "--speech-option=lfm2_5_audio.max_new_tokens=4",
        "--speech-option=lfm2_5_audio.max_audio_frames=4",
    )
    assert project.run("--update-baselines", *args, model="lfm2_5_audio").ret == 0
    out = project.path / "r.json"
    result = project.run(f"--speech-results={out}", *args, model="lfm2_5_audio")
    assert result.ret == 0, result.stdout.str()
    data = json.loads(out.read_text())
    assert data["identity"]["revision"].startswith("sha256:")
    assert data["identity"]["options"]["max_new_tokens"] == 4
    assert len(data["cases"]) == 3 and len(data["tts_cases"]) == 2
    assert {c["sample_rate"] for c in data["tts_cases"]} == {24000}
    baseline = json.loads((project.path / "baselines" / "lfm2_5_audio" / "cpu.json").read_text())
    assert "tts" in baseline["cases"][project.cases[0]["id"]]

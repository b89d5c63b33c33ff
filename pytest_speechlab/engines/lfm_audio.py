"""LFM2.5-Audio (Liquid AI, ``liquid-audio``) adapter: one model for both ASR and TTS.

Sources: the hub id ``LiquidAI/LFM2.5-Audio-1.5B`` (liquid-audio's own ``snapshot_download``,
for users with network), or a local folder with the files of that snapshot: ``config.json``
(liquid-audio's model config), ``model.safetensors`` (or shards with one ``*.index.json``),
``tokenizer.json`` and ``tokenizer_config.json``, and, for TTS, ``audio_detokenizer/config.json``
and ``audio_detokenizer/model.safetensors`` (LFM2.5's code-to-waveform decoder) or, for the older
LFM2-Audio checkpoints, the Mimi codec ``tokenizer-e351c8d8-checkpoint125.safetensors``.

Both tasks use liquid-audio's sequential generation with the task prompts of its README
("Perform ASR." / "Perform TTS. Use the ... voice."). Decoding is greedy by default, which keeps
a regression gate deterministic; sampling, as the README uses for TTS, is seeded per call.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import SpeechlabError
from ..io.devices import set_torch_threads, torch_compute_type, torch_unavailable
from .base import ModelIdentity
from .sources import model_folder, resolve_source

AUDIO_START = 128  # <|audio_start|>: the text token after which the model emits audio frames
END_OF_AUDIO = 2048  # the code that ends an audio segment (valid codes are 0..2047)
MIMI_FILE = "tokenizer-e351c8d8-checkpoint125.safetensors"
DETOKENIZER_DIR = "audio_detokenizer"
MIN_SAMPLES = 1600  # 0.1 s at 16 kHz: the encoder needs at least 9 mel frames
DTYPES = ("float32", "bfloat16", "float16")


def _require() -> None:
    try:
        import liquid_audio  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        raise SpeechlabError(
            "lfm2_5_audio: liquid-audio is not installed "
            "(needs Python >= 3.12: pip install 'pytest-speechlab[lfm]')"
        ) from None


def _check_folder(folder: Path) -> None:
    """Name what a local folder lacks, before liquid-audio fails on it with a traceback."""
    if not folder.is_dir():
        raise SpeechlabError(f"lfm2_5_audio: {folder} is not a folder")
    missing = [] if (folder / "config.json").is_file() else ["config.json"]
    if not (folder / "tokenizer.json").is_file() and not (folder / "tokenizer_config.json").is_file():
        missing.append("tokenizer.json")
    if not (folder / "model.safetensors").is_file() and not list(folder.glob("*.index.json")):
        missing.append("model.safetensors")
    if missing:
        raise SpeechlabError(
            f"lfm2_5_audio: {folder} is not an LFM2-Audio folder (missing {', '.join(missing)})"
        )


def _download(repo_id: str, revision: str | None) -> Path:
    """The hub snapshot, fetched (or found in the cache) by liquid-audio's own helper."""
    from liquid_audio.utils import get_model_dir

    try:
        return Path(get_model_dir(repo_id, revision=revision))
    except Exception as exc:  # network, auth and offline-mode errors all end here
        message = " ".join(str(exc).split())
        raise SpeechlabError(f"lfm2_5_audio: cannot fetch {repo_id} from the hub: {message}") from None


def _load_detokenizer(folder: Path, device: str) -> Any:
    """LFM2.5's detokenizer on ``device``.

    liquid-audio's ``LFM2AudioProcessor.audio_detokenizer`` builds the same model but moves it to
    ``cuda`` unconditionally; this mirrors it (config layer-type renaming included) on any device.
    """
    from liquid_audio import LFM2AudioDetokenizer
    from safetensors.torch import load_file
    from transformers import Lfm2Config

    config = Lfm2Config.from_pretrained(folder / "config.json")
    # llama.cpp's "sliding_attention" is full attention in transformers' Lfm2Model; the
    # detokenizer applies its own sliding-window mask.
    config.layer_types = [
        "full_attention" if t == "sliding_attention" else t for t in config.layer_types or []
    ]
    detokenizer = LFM2AudioDetokenizer(config)
    detokenizer.load_state_dict(load_file(folder / "model.safetensors"))
    return detokenizer.to(device).eval()


class LFMAudioEngine:
    name: ClassVar[str] = "lfm2_5_audio"
    tasks: ClassVar[tuple[str, ...]] = ("asr", "tts")
    sample_rate: ClassVar[int] = 16000  # the log-mel front end's rate (ChatState resamples to it)
    output_sample_rate: ClassVar[int] = 24000  # Mimi's rate, which the detokenizer also produces
    default_source: ClassVar[str] = "LiquidAI/LFM2.5-Audio-1.5B"
    default_options: ClassVar[dict[str, Any]] = {
        "asr_prompt": "Perform ASR.",
        "tts_prompt": "Perform TTS. Use the US female voice.",  # or US male, UK male, UK female
        "max_new_tokens": 512,  # ASR: text tokens per transcript (the README's limit)
        "max_audio_frames": 512,  # TTS: 80 ms frames per utterance (512: 41 s)
        # Temperature 0 (or None, or top_k 1) is greedy: deterministic, what a gate needs. The
        # README samples TTS at audio_temperature 0.8, audio_top_k 64; then ``seed`` fixes the draw.
        "text_temperature": 0.0,
        "text_top_k": None,
        "audio_temperature": 0.0,
        "audio_top_k": None,
        "seed": 0,
        "dtype": None,  # None: float32 on cpu and mps, bfloat16 on cuda
        "revision": None,  # hub only: a branch, tag or commit to pin
    }

    def __init__(
        self, model: Any, processor: Any, detokenizer: Any, dtype: Any, identity: ModelIdentity
    ) -> None:
        self._model = model
        self._processor = processor
        self._detokenizer = detokenizer
        self._dtype = dtype
        self._identity = identity

    @classmethod
    def unavailable(cls, device: str) -> str | None:
        _require()
        return torch_unavailable(device)

    @classmethod
    def load(cls, source: str | None, device: str, options: dict[str, Any]) -> LFMAudioEngine:
        _require()
        import torch
        from liquid_audio import LFM2AudioModel, LFM2AudioProcessor

        src = resolve_source(source or cls.default_source)
        # the revision of a local folder covers model, detokenizer and codec weights
        folder, revision = model_folder(cls.name, src, options["revision"], _download, _check_folder)
        set_torch_threads(device)
        compute_type = torch_compute_type(cls.name, "dtype", options["dtype"], device, "bfloat16", DTYPES)
        dtype = getattr(torch, compute_type)

        # A Path, not a str: liquid-audio treats every str as a hub id and downloads it.
        processor = LFM2AudioProcessor.from_pretrained(folder, device=device).eval()
        model = LFM2AudioModel.from_pretrained(folder, device=device, dtype=dtype).eval()
        if not device.startswith("cuda"):
            model.lfm.set_attn_implementation("sdpa")  # flash-attn, when installed, is cuda only
        detokenizer = None
        if (folder / DETOKENIZER_DIR / "model.safetensors").is_file():
            detokenizer = _load_detokenizer(folder / DETOKENIZER_DIR, device)

        decoding = {k: v for k, v in options.items() if k not in ("dtype", "revision")}
        identity = ModelIdentity(
            engine=f"liquid-audio {version('liquid-audio')}",
            model_id=src.model_id,
            source=str(src),
            revision=revision,
            device=device,
            compute_type=compute_type,
            options=decoding,
            packages={p: version(p) for p in ("liquid-audio", "torch", "transformers")},
        )
        return cls(model, processor, detokenizer, dtype, identity)

    @property
    def identity(self) -> ModelIdentity:
        return self._identity

    def _chat(self, system: str) -> Any:
        """A ChatState holding the system turn and an open user turn."""
        from liquid_audio import ChatState

        chat = ChatState(self._processor, dtype=self._dtype)
        chat.new_turn("system")
        chat.add_text(system)
        chat.end_turn()
        chat.new_turn("user")
        return chat

    def _generate(self, chat: Any, max_new_tokens: int, take: Callable[[Any], bool]) -> None:
        """Feed liquid-audio's sequential generation to ``take`` until it returns False.

        Runs under a forked RNG seeded from ``seed``, so sampled decoding repeats call for call
        without disturbing the caller's random state (greedy decoding draws nothing).
        """
        import torch

        opts = self._identity.options

        def temperature(value: float | None) -> float | None:
            return float(value) if value else None  # the library samples only with a float

        device = torch.device(self._identity.device)
        cuda_rngs = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda_rngs):
            torch.manual_seed(opts["seed"])
            for token in self._model.generate_sequential(
                **chat,
                max_new_tokens=max_new_tokens,
                text_temperature=temperature(opts["text_temperature"]),
                text_top_k=opts["text_top_k"],
                audio_temperature=temperature(opts["audio_temperature"]),
                audio_top_k=opts["audio_top_k"],
            ):
                if not take(token):
                    break

    def transcribe(self, audio: np.ndarray, language: str | None) -> str:
        """Text heard in ``audio``. ``language`` is unused: the ASR prompt has no language slot."""
        import torch

        samples = np.asarray(audio, dtype=np.float32).reshape(-1)
        if samples.size < MIN_SAMPLES:
            samples = np.pad(samples, (0, MIN_SAMPLES - samples.size))
        chat = self._chat(self._identity.options["asr_prompt"])
        chat.add_audio(torch.from_numpy(samples.copy())[None], self.sample_rate)
        chat.end_turn()
        chat.new_turn("assistant")
        tokens: list[Any] = []

        def take(token: Any) -> bool:
            if token.numel() != 1 or int(token) == AUDIO_START:
                return False  # the model started speaking: the transcript is over
            tokens.append(token)
            return True

        self._generate(chat, self._identity.options["max_new_tokens"], take)
        if not tokens:
            return ""
        text = self._processor.text.decode(torch.cat(tokens), skip_special_tokens=True)
        return str(text).strip()

    def synthesize(self, text: str, language: str | None) -> np.ndarray:
        """Float32 mono speech at 24 kHz. ``language`` is unused: the voice prompt decides."""
        import torch

        opts = self._identity.options
        limit = opts["max_audio_frames"]
        chat = self._chat(opts["tts_prompt"])
        chat.add_text(text)
        chat.end_turn()
        chat.new_turn("assistant")
        frames: list[Any] = []

        def take(token: Any) -> bool:
            if token.numel() == 1:
                return True  # text: <|audio_start|>, or words before it
            if int(token[0]) == END_OF_AUDIO:
                return False
            frames.append(token)
            return len(frames) < limit

        # Steps count text tokens and audio frames together: max_new_tokens leaves room for any
        # text before <|audio_start|>; take() caps the frames.
        self._generate(chat, limit + opts["max_new_tokens"], take)
        if not frames:
            return np.zeros(0, np.float32)
        codes = torch.stack(frames, 1).unsqueeze(0)  # (1, codebooks, frames)
        if bool((codes >= END_OF_AUDIO).any()):
            raise SpeechlabError("lfm2_5_audio: the model emitted an end-of-audio code inside a frame")
        with torch.no_grad():
            if self._detokenizer is not None:
                wave = self._detokenizer(codes)[0]
            else:
                try:
                    mimi = self._processor.mimi
                except AttributeError:
                    raise SpeechlabError(
                        f"lfm2_5_audio: {self._identity.source} has neither {DETOKENIZER_DIR}/ "
                        f"nor {MIMI_FILE}: it cannot synthesise"
                    ) from None
                wave = mimi.decode(codes)[0, 0]
        return wave.float().cpu().numpy().astype(np.float32, copy=False)

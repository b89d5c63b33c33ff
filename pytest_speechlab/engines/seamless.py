"""SeamlessM4T v2 (Meta, through ``transformers``) adapter: speech-to-text and text-to-speech.

Sources: the hub id ``facebook/seamless-m4t-v2-large`` (the transformers weights of the snapshot,
fetched with ``huggingface_hub`` for users with network), or a local folder saved by
``save_pretrained``: ``config.json``, ``generation_config.json`` (with the language-code tables
that generation needs), ``model.safetensors`` (or shards), ``preprocessor_config.json`` or
``processor_config.json`` and the tokenizer files.

One ``SeamlessM4Tv2Model`` serves both tasks. Seamless has no plain transcription mode: ASR is
speech-to-text translation into the language spoken, and TTS is text-to-speech translation from a
language into itself. Decoding is greedy by default (deterministic, and affordable on a CPU for a
2.3B-parameter model); ``num_beams`` raises it.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import SpeechlabError
from ..io.devices import set_torch_threads, torch_compute_type, torch_unavailable
from .base import ModelIdentity
from .sources import model_folder, resolve_source

DTYPES = ("float32", "float16", "bfloat16")
# The transformers files of a hub snapshot; the repository also holds fairseq2 checkpoints
# (``*.pt``, tens of GB) that transformers never reads.
HUB_FILES = ["*.json", "*.safetensors", "*.model"]

# ISO 639-1 codes of the manifest to the ISO 639-3 codes Seamless uses, for the 36 languages it
# speaks (text output covers more: a three-letter code is passed through as it is).
LANGUAGES = {
    "ar": "arb", "bn": "ben", "ca": "cat", "cs": "ces", "cy": "cym", "da": "dan", "de": "deu",
    "en": "eng", "es": "spa", "et": "est", "fa": "pes", "fi": "fin", "fr": "fra", "hi": "hin",
    "id": "ind", "it": "ita", "ja": "jpn", "ko": "kor", "mt": "mlt", "nl": "nld", "pl": "pol",
    "pt": "por", "ro": "ron", "ru": "rus", "sk": "slk", "sv": "swe", "sw": "swh", "te": "tel",
    "th": "tha", "tl": "tgl", "tr": "tur", "uk": "ukr", "ur": "urd", "uz": "uzn", "vi": "vie",
    "zh": "cmn",
}  # fmt: skip


def _require() -> None:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        raise SpeechlabError(
            "seamless_m4t: transformers is not installed (pip install 'pytest-speechlab[seamless]')"
        ) from None


def _classes() -> tuple[Any, Any]:
    """transformers' processor and model classes. transformers imports them lazily and, when a
    backend fails (a torchaudio built for another torch, say), says only "Could not import
    module"; the cause it hides is named here, in one line."""
    try:
        from transformers import AutoProcessor, SeamlessM4TFeatureExtractor, SeamlessM4Tv2Model  # noqa: F401
    except (ImportError, RuntimeError) as exc:
        cause: BaseException = exc
        while cause.__cause__ is not None:
            cause = cause.__cause__
        raise SpeechlabError(
            f"seamless_m4t: transformers cannot import SeamlessM4T: {' '.join(str(cause).split())}"
        ) from None
    return AutoProcessor, SeamlessM4Tv2Model


def _check_folder(folder: Path) -> None:
    """Name what a local folder lacks, before transformers fails on it with a traceback."""
    if not folder.is_dir():
        raise SpeechlabError(f"seamless_m4t: {folder} is not a folder")
    wanted = {
        "config.json": ["config.json"],
        "generation_config.json": ["generation_config.json"],
        "model.safetensors": ["model.safetensors", "model.safetensors.index.json"],
        "preprocessor_config.json": ["preprocessor_config.json", "processor_config.json"],
        "tokenizer.json": ["tokenizer.json", "sentencepiece.bpe.model"],
    }
    missing = [name for name, files in wanted.items() if not any((folder / f).is_file() for f in files)]
    if missing:
        raise SpeechlabError(
            f"seamless_m4t: {folder} is not a SeamlessM4T v2 folder (missing {', '.join(missing)})"
        )


def _download(repo_id: str, revision: str | None, cache_dir: str | None) -> Path:
    """The snapshot's transformers files, fetched (or found in the cache) by huggingface_hub."""
    from huggingface_hub import snapshot_download

    try:
        path = snapshot_download(repo_id, revision=revision, cache_dir=cache_dir, allow_patterns=HUB_FILES)
    except Exception as exc:  # network, auth and offline-mode errors all end here
        message = " ".join(str(exc).split())
        raise SpeechlabError(f"seamless_m4t: cannot fetch {repo_id} from the hub: {message}") from None
    return Path(path)


class SeamlessM4TEngine:
    name: ClassVar[str] = "seamless_m4t"
    tasks: ClassVar[tuple[str, ...]] = ("asr", "tts")
    sample_rate: ClassVar[int] = 16000  # the feature extractor's rate
    default_source: ClassVar[str] = "facebook/seamless-m4t-v2-large"
    default_options: ClassVar[dict[str, Any]] = {
        "language": None,  # None: each case's language (en -> eng); or a Seamless code such as "eng"
        "num_beams": 1,  # greedy; Seamless's own default is 5
        "max_new_tokens": 256,  # text tokens per transcript or per utterance spoken
        "speaker_id": 0,  # TTS voice: 0..199
        "dtype": None,  # None: float32 on cpu and mps, float16 on cuda
        "revision": None,  # hub only: a branch, tag or commit to pin
        "cache_dir": None,  # hub only: None is huggingface_hub's own cache
    }

    def __init__(self, model: Any, processor: Any, dtype: Any, identity: ModelIdentity) -> None:
        self._model = model
        self._processor = processor
        self._dtype = dtype
        self._identity = identity
        self.output_sample_rate: int = int(model.config.sampling_rate)  # the vocoder's rate

    @classmethod
    def unavailable(cls, device: str) -> str | None:
        _require()
        return torch_unavailable(device)

    @classmethod
    def load(cls, source: str | None, device: str, options: dict[str, Any]) -> SeamlessM4TEngine:
        _require()
        import torch

        AutoProcessor, SeamlessM4Tv2Model = _classes()
        src = resolve_source(source or cls.default_source)
        folder, revision = model_folder(
            cls.name,
            src,
            options["revision"],
            lambda repo_id, rev: _download(repo_id, rev, options["cache_dir"]),
            _check_folder,
        )
        set_torch_threads(device)
        compute_type = torch_compute_type(cls.name, "dtype", options["dtype"], device, "float16", DTYPES)
        dtype = getattr(torch, compute_type)
        processor = AutoProcessor.from_pretrained(folder)
        model = SeamlessM4Tv2Model.from_pretrained(folder, dtype=dtype).to(device).eval()

        decoding = {k: v for k, v in options.items() if k not in ("dtype", "revision", "cache_dir")}
        identity = ModelIdentity(
            engine=f"transformers {version('transformers')}",
            model_id=src.model_id,
            source=str(src),
            revision=revision,
            device=device,
            compute_type=compute_type,
            options=decoding,
            packages={p: version(p) for p in ("transformers", "torch")},
        )
        return cls(model, processor, dtype, identity)

    @property
    def identity(self) -> ModelIdentity:
        return self._identity

    def _language(self, language: str | None) -> str:
        """The Seamless code for ``language`` (the option first), checked against the model's."""
        wanted = self._identity.options["language"] or language or "en"
        code = LANGUAGES.get(wanted, wanted)
        known = getattr(self._model.generation_config, "text_decoder_lang_to_code_id", {}) or {}
        if code not in known:
            raise SpeechlabError(
                f"seamless_m4t: language {wanted!r} is not one this model knows "
                f"({', '.join(sorted(known)) or 'its generation_config.json has no language table'})"
            )
        return code

    def _generate(self, **inputs: Any) -> Any:
        """transformers' generate, with the decoding options aimed at the text decoder alone (the
        ``text_`` prefix): the text-to-unit model that follows for speech is not autoregressive."""
        import torch

        opts = self._identity.options
        with torch.inference_mode():
            return self._model.generate(
                **inputs,
                text_num_beams=opts["num_beams"],
                text_max_new_tokens=opts["max_new_tokens"],
                text_do_sample=False,
            )

    def transcribe(self, audio: np.ndarray, language: str | None) -> str:
        """Text in the language spoken (speech-to-text translation into that language)."""
        lang = self._language(language)
        samples = np.asarray(audio, dtype=np.float32).reshape(-1)
        features = self._processor.feature_extractor(
            samples, sampling_rate=self.sample_rate, return_tensors="pt"
        )
        device = self._identity.device
        output = self._generate(
            input_features=features["input_features"].to(device, self._dtype),
            attention_mask=features["attention_mask"].to(device),
            tgt_lang=lang,
            generate_speech=False,
        )
        text = self._processor.tokenizer.decode(output.sequences[0], skip_special_tokens=True)
        return str(text).strip()

    def synthesize(self, text: str, language: str | None) -> np.ndarray:
        """Float32 mono speech at the vocoder's rate (16 kHz), in the language of the text."""
        lang = self._language(language)
        tokens = self._processor.tokenizer(text, src_lang=lang, return_tensors="pt")
        device = self._identity.device
        waveform, lengths = self._generate(
            input_ids=tokens["input_ids"].to(device),
            attention_mask=tokens["attention_mask"].to(device),
            tgt_lang=lang,
            speaker_id=self._identity.options["speaker_id"],
        )
        wave = waveform[0, : int(lengths.reshape(-1)[0])]  # lengths is 0-d for one utterance
        return wave.float().cpu().numpy().astype(np.float32, copy=False)

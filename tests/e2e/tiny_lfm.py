"""A tiny random LFM2-Audio checkpoint, built offline, that liquid-audio's real loaders accept.

``build_tiny_lfm_checkpoint(folder)`` writes the same layout as the ``LiquidAI/LFM2.5-Audio-1.5B``
hub snapshot, which ``LFM2AudioModel.from_pretrained`` and ``LFM2AudioProcessor.from_pretrained``
read from a local ``Path``:

``config.json``
    liquid-audio's own model config: ``preprocessor`` (the 128-bin, 16 kHz log-mel front end that
    ``ChatState`` hardcodes), ``encoder`` (a 1-layer FastConformer, d_model 32, dw_striding x8:
    the factor that liquid-audio's ``mel2emb_len`` assumes), ``lfm`` (an ``Lfm2Config``: 2 layers,
    conv + full attention, hidden 64, vocabulary 387), ``depthformer`` (1 layer, width 64: its
    attention has 32 heads and needs an even head size) and the top-level ``LFM2AudioConfig`` keys.
``model.safetensors``
    every tensor of ``LFM2AudioModel(config).state_dict()``, float32, from ``torch.manual_seed``.
    Tied tensors are stored under each of their names, as ``load_checkpoint_in_model`` loads by
    name. 4.4M values (17.7 MB), mostly the 8 x 2049-code audio embeddings.
``tokenizer.json``, ``tokenizer_config.json``
    a byte-level BPE with no merges (every byte is one token) built with ``tokenizers``: ids
    0-130 are the special tokens whose ids liquid-audio hardcodes (``<|startoftext|>`` 1,
    ``<|im_start|>`` 6, ``<|im_end|>`` 7, ``<|audio_start|>`` 128, ``<|text_end|>`` 130; ids
    that the library never names are ``<|reserved_N|>``), then the 256 bytes.
``audio_detokenizer/config.json``, ``audio_detokenizer/model.safetensors``
    the LFM2.5 detokenizer (codes to 24 kHz waveform). ``LFM2AudioDetokenizer`` hardcodes a width
    of 512 and an 8 x 2048 code embedding, so this part cannot be small (about 11M parameters,
    stored as bfloat16: ~22 MB); its backbone is 2 layers (conv + sliding attention, renamed to
    full attention by the loader as for the real config).

The Mimi codec file (``tokenizer-e351c8d8-checkpoint125.safetensors``) is left out: Mimi's size is
fixed by moshi's loader (96M parameters) and the LFM2.5 path decodes with the detokenizer.

Random weights alone would make greedy decoding stop or switch modality at arbitrary points, so
a few weights are then set by hand to make both code paths run to their limits, deterministically:

* residual dimensions 0-2 are reserved: only the token embeddings write to them (rows 0-2 of
  every layer's output projection and of the audio adapter are zero), and the final norm reads
  only dimensions 0 and 1, so the text logits are ``h0 * E[:, 0] + h1 * E[:, 1]``;
* dimension 2 marks the byte ``T``; the attention layer averages it over the context (zero query
  norm: uniform attention) into dimension 0. So dimension 0 is positive exactly when the prompt
  holds a ``T`` ("Perform TTS. ..."), and zero for "Perform ASR." with audio;
* ``E[:, 1]`` is 0.5-1 for the lowercase letters, 0.1 for other bytes, negative for special
  tokens, and ``E[128, 0]`` is large: an ASR prompt greedily yields one letter per step (always
  the same one: one token per character, so a transcript's length counts its tokens) until
  ``max_new_tokens``; a TTS prompt yields ``<|audio_start|>`` and then audio frames;
* row 2048 (end of audio) of each depthformer code embedding, tied to its logits, is zero, so
  greedy frames never end early and every code stays in 0-2047: TTS runs until its token limit.
"""

from __future__ import annotations

import json
from pathlib import Path

SEED = 1234
HIDDEN = 64
SPECIAL = {
    0: "<|pad|>",
    1: "<|startoftext|>",
    2: "<|endoftext|>",
    3: "<|fim_pre|>",
    4: "<|fim_mid|>",
    5: "<|fim_suf|>",
    6: "<|im_start|>",
    7: "<|im_end|>",
    128: "<|audio_start|>",
    130: "<|text_end|>",
}
N_SPECIAL = 131
VOCAB = N_SPECIAL + 256
AUDIO_START = 128
TEXT_DIM, BIAS_DIM, MARK_DIM = 0, 1, 2

PREPROCESSOR = {
    "sample_rate": 16000,
    "normalize": "per_feature",
    "window_size": 0.025,
    "window_stride": 0.01,
    "window": "hann",
    "features": 128,
    "n_fft": 512,
    "log": True,
    "frame_splicing": 1,
    "dither": 1e-05,
    "pad_to": 0,
    "pad_value": 0.0,
}
ENCODER = {
    "feat_in": 128,
    "feat_out": -1,
    "n_layers": 1,
    "d_model": 32,
    "subsampling": "dw_striding",
    "subsampling_factor": 8,
    "subsampling_conv_channels": 16,
    "causal_downsampling": False,
    "reduction": None,
    "reduction_position": None,
    "reduction_factor": 1,
    "ff_expansion_factor": 2,
    "self_attention_model": "rel_pos",
    "n_heads": 2,
    "att_context_size": [-1, -1],
    "xscaling": False,
    "untie_biases": True,
    "pos_emb_max_len": 5000,
    "conv_kernel_size": 9,
    "conv_norm_type": "batch_norm",
    "conv_context_size": None,
    "dropout": 0.0,
    "dropout_pre_encoder": 0.0,
    "dropout_emb": 0.0,
    "dropout_att": 0.0,
}
LFM = {
    "vocab_size": VOCAB,
    "hidden_size": HIDDEN,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "layer_types": ["conv", "full_attention"],
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 4096,
    "norm_eps": 1e-05,
    "conv_bias": False,
    "conv_L_cache": 3,
    "block_auto_adjust_ff_dim": False,
    "block_multiple_of": 16,
    "block_ffn_dim_multiplier": 1.0,
    "pad_token_id": 0,
    "bos_token_id": 1,
    "eos_token_id": 7,
    "tie_embedding": True,
}
CONFIG = {
    "architectures": ["LFM2AudioModel"],
    "codebooks": 8,
    "tie_audio_embeddings": True,
    "semantic_codebook_factor": 100,
    "codebook_weight": "log",
    "interleaved_n_text": 6,
    "interleaved_n_audio": 12,
    "preprocessor": PREPROCESSOR,
    "encoder": ENCODER,
    "lfm": LFM,
    "depthformer": {"layers": 1, "dim": 64, "tie": True},
}
DETOKENIZER = {
    "model_type": "lfm2",
    "vocab_size": 8,
    "hidden_size": 512,  # LFM2AudioDetokenizer's code embedding and output layer are 512 wide
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "layer_types": ["conv", "sliding_attention"],
    "sliding_window": 30,
    "num_attention_heads": 8,
    "num_key_value_heads": 4,
    "max_position_embeddings": 4096,
    "norm_eps": 1e-05,
    "conv_bias": False,
    "conv_L_cache": 3,
    "block_auto_adjust_ff_dim": False,
    "block_multiple_of": 16,
    "block_ffn_dim_multiplier": 1.0,
    "pad_token_id": 0,
    "bos_token_id": 1,
    "eos_token_id": 2,
}


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte to printable character map, which the ByteLevel pre-tokenizer uses."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    chars = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, chars), strict=True))


def _write_tokenizer(folder: Path) -> dict[int, int]:
    """Write the tokenizer files; return byte value -> token id."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = [SPECIAL.get(i, f"<|reserved_{i}|>") for i in range(N_SPECIAL)]
    byte_chars = _bytes_to_unicode()
    vocab = {token: i for i, token in enumerate(specials)}
    byte_ids = {}
    for b in range(256):
        byte_ids[b] = vocab[byte_chars[b]] = N_SPECIAL + b
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(specials)  # already in the vocabulary: ids stay 0-130
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<|startoftext|>",
        eos_token="<|im_end|>",
        pad_token="<|pad|>",
    )
    fast.save_pretrained(folder)
    return byte_ids


def _steer(state: dict, byte_ids: dict[int, int]) -> None:
    """Set the few weights, described in the module docstring, that make greedy decoding useful."""
    import torch

    reserved = [TEXT_DIM, BIAS_DIM, MARK_DIM]
    for name, tensor in state.items():
        if name.startswith("lfm.layers.") and name.endswith(("out_proj.weight", "feed_forward.w2.weight")):
            tensor[reserved] = 0.0
    last = max(k for k in state if k.startswith("audio_adapter.model.") and k.endswith(".weight"))
    state[last][reserved] = 0.0
    state[last.removesuffix("weight") + "bias"][reserved] = 0.0

    generator = torch.Generator().manual_seed(SEED)
    emb = state["lfm.embed_tokens.weight"]
    emb[:, reserved] = 0.0
    emb[N_SPECIAL:, BIAS_DIM] = 0.1  # so that h1 > 0 after any byte, "\n" ending the prompt included
    letters = torch.tensor([byte_ids[ord(c)] for c in "abcdefghijklmnopqrstuvwxyz"])
    emb[letters, BIAS_DIM] = 0.5 + 0.5 * torch.rand(len(letters), generator=generator)
    emb[:N_SPECIAL, BIAS_DIM] = -1.0
    emb[:N_SPECIAL, TEXT_DIM] = -4.0
    emb[AUDIO_START, BIAS_DIM] = 0.0
    emb[AUDIO_START, TEXT_DIM] = 4.0
    emb[byte_ids[ord("T")], MARK_DIM] = 1.0
    norm = state["lfm.embedding_norm.weight"]
    norm.zero_()
    norm[[TEXT_DIM, BIAS_DIM]] = 1.0

    attn = "lfm.layers.1.self_attn."
    state[attn + "q_layernorm.weight"].zero_()  # zero queries: uniform causal attention
    state[attn + "v_proj.weight"][0] = 0.0
    state[attn + "v_proj.weight"][0, MARK_DIM] = 1.0  # kv head 0, channel 0 carries the T mark
    out = state[attn + "out_proj.weight"]
    out[TEXT_DIM, 0] = 4.0  # query head 0 (columns 0-15) reads kv head 0; the row was zeroed above

    for name, tensor in state.items():
        if name.startswith("depth_embeddings.") and name.endswith("embedding.weight"):
            tensor[2048] = 0.0  # end-of-audio logit 0, below the best random code


def build_tiny_lfm_checkpoint(folder: Path) -> Path:
    """Write the checkpoint described in the module docstring into ``folder``; return it."""
    import torch
    from liquid_audio import LFM2AudioDetokenizer
    from liquid_audio.model.conformer.encoder import ConformerEncoderConfig
    from liquid_audio.model.lfm2_audio import DepthformerConfig, LFM2AudioConfig, LFM2AudioModel
    from liquid_audio.processor import PreprocessorConfig
    from safetensors.torch import save_file
    from transformers import Lfm2Config

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(CONFIG, indent=2) + "\n", encoding="utf-8")
    byte_ids = _write_tokenizer(folder)

    config = json.loads(json.dumps(CONFIG))
    conf = LFM2AudioConfig(
        lfm=Lfm2Config(**config.pop("lfm")),
        encoder=ConformerEncoderConfig(**config.pop("encoder")),
        depthformer=DepthformerConfig(**config.pop("depthformer")),
        preprocessor=PreprocessorConfig(**config.pop("preprocessor")),
        **config,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = LFM2AudioModel(conf).eval()
        state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
        _steer(state, byte_ids)
        save_file(state, folder / "model.safetensors", metadata={"format": "pt"})

        detok_dir = folder / "audio_detokenizer"
        detok_dir.mkdir(exist_ok=True)
        (detok_dir / "config.json").write_text(json.dumps(DETOKENIZER, indent=2) + "\n", encoding="utf-8")
        detok_config = Lfm2Config(**{**DETOKENIZER, "layer_types": ["conv", "full_attention"]})
        detok = LFM2AudioDetokenizer(detok_config)
        buffers = {name for name, _ in detok.named_buffers()}  # the ISTFT window stays float32
        detok_state = {
            k: v.detach().to(v.dtype if k in buffers else torch.bfloat16).contiguous()
            for k, v in detok.state_dict().items()
        }
        save_file(detok_state, detok_dir / "model.safetensors", metadata={"format": "pt"})
    return folder


if __name__ == "__main__":  # python tests/e2e/tiny_lfm.py FOLDER
    import sys

    print(build_tiny_lfm_checkpoint(Path(sys.argv[1])))

"""A tiny random SeamlessM4T v2 checkpoint, built offline, that transformers' loaders accept.

``build_tiny_seamless_checkpoint(folder)`` writes what ``save_pretrained`` writes for
``facebook/seamless-m4t-v2-large``, at a size that loads in a fraction of a second:

``config.json``, ``model.safetensors``
    a ``SeamlessM4Tv2Model`` with every part present (conformer speech encoder, text encoder and
    decoder, text-to-unit model, HiFi-GAN code vocoder), one layer each, width 16, from
    ``torch.manual_seed``. The feature extractor's 160-value frames (80 mel bins, stride 2) and
    the vocoder's 320 samples per unit (upsampling 5 x 4 x 4 x 2 x 2) are the real ones, so
    audio goes in and comes out at 16 kHz as with the real model.
``generation_config.json``
    the tables generation needs, as in the hub's file: ``text_decoder_lang_to_code_id``,
    ``t2u_lang_code_to_id``, ``vocoder_lang_code_to_id`` (``eng`` and ``fra``), ``id_to_text``
    and ``char_to_id`` (the text-to-unit model's character input).
``tokenizer.json``, ``tokenizer_config.json``, ``processor_config.json``
    a ``SeamlessM4TTokenizer`` over characters (``▁`` marks a word's start; no merges), with
    ``__eng__`` and ``__fra__``, and the default feature extractor.

Random text-to-unit weights may predict the control units (ids 0-3, below the vocoder's offset
of 4), which a trained model never emits and the vocoder cannot embed; the unit head's final norm
and weights are therefore set to make every logit of a real unit positive and those of units 0
and 3 zero. With this seed, greedy text decoding never emits end-of-sequence: it runs to
``max_new_tokens``, which the tests use to see that the limit is honoured.
"""

from __future__ import annotations

import string
from pathlib import Path

SEED = 1234
LANGUAGES = ("eng", "fra")
CONTROL_UNITS = [0, 3]  # t2u <s> and <unk>; pad (1) and eos (2) are masked by generate()


def build_tiny_seamless_checkpoint(folder: Path) -> Path:
    import torch
    from transformers import (
        GenerationConfig,
        SeamlessM4TFeatureExtractor,
        SeamlessM4TProcessor,
        SeamlessM4TTokenizer,
        SeamlessM4Tv2Config,
        SeamlessM4Tv2Model,
    )

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"<pad>": 0, "<unk>": 1, "<s>": 2, "</s>": 3}
    lang_tokens = [f"__{lang}__" for lang in LANGUAGES]
    letters = string.ascii_letters + "'.,?!"
    for token in [*lang_tokens, "▁", *letters]:
        vocab[token] = len(vocab)
    tokenizer = SeamlessM4TTokenizer(
        vocab=vocab, merges=[], src_lang="eng", tgt_lang="eng", additional_special_tokens=lang_tokens
    )
    SeamlessM4TProcessor(
        feature_extractor=SeamlessM4TFeatureExtractor(), tokenizer=tokenizer
    ).save_pretrained(folder)

    chars = ["<pad>", "<unk>", "<s>", "</s>", "▁", *letters]
    config = SeamlessM4Tv2Config(
        vocab_size=len(vocab),
        hidden_size=16,
        max_position_embeddings=256,
        encoder_layers=1,
        decoder_layers=1,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        speech_encoder_layers=1,
        speech_encoder_attention_heads=2,
        speech_encoder_intermediate_size=32,
        t2u_vocab_size=24,
        char_vocab_size=len(chars),
        t2u_encoder_layers=1,
        t2u_decoder_layers=1,
        t2u_encoder_ffn_dim=32,
        t2u_decoder_ffn_dim=32,
        t2u_encoder_attention_heads=2,
        t2u_decoder_attention_heads=2,
        t2u_max_position_embeddings=256,
        t2u_variance_predictor_embed_dim=16,
        t2u_variance_predictor_hidden_dim=8,
        unit_hifi_gan_vocab_size=20,  # t2u units 4..23 minus the vocoder offset of 4
        unit_embed_dim=8,
        lang_embed_dim=4,
        spkr_embed_dim=4,
        vocoder_num_langs=len(LANGUAGES),
        vocoder_num_spkrs=2,
        upsample_initial_channel=64,  # halved at each of the 5 upsampling stages: 2 channels at the end
        resblock_kernel_sizes=[3],
        resblock_dilation_sizes=[[1, 3]],
    )
    torch.manual_seed(SEED)
    model = SeamlessM4Tv2Model(config).eval()
    with torch.no_grad():
        norm = model.t2u_model.model.decoder.layer_norm
        norm.weight.fill_(0.1)  # hidden states within 1 +- 0.4: positive
        norm.bias.fill_(1.0)
        head = model.t2u_model.lm_head.weight
        head.abs_()
        head[CONTROL_UNITS] = 0.0
    model.generation_config = GenerationConfig(
        bos_token_id=2,
        eos_token_id=3,
        pad_token_id=0,
        decoder_start_token_id=3,
        max_new_tokens=256,
        text_decoder_lang_to_code_id={lang: vocab[f"__{lang}__"] for lang in LANGUAGES},
        t2u_lang_code_to_id={lang: 4 + i for i, lang in enumerate(LANGUAGES)},
        vocoder_lang_code_to_id={lang: i for i, lang in enumerate(LANGUAGES)},
        id_to_text={str(i): token for token, i in vocab.items()},
        char_to_id={c: i for i, c in enumerate(chars)},
    )
    model.save_pretrained(folder)
    return folder


if __name__ == "__main__":  # python tests/e2e/tiny_seamless.py FOLDER
    import sys

    print(build_tiny_seamless_checkpoint(Path(sys.argv[1])))

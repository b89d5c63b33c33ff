"""The vendored Whisper normaliser: the same text out as openai-whisper's own, for every bundled
reference and a few thousand strings built to exercise each of its rules."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pytest

from pytest_speechlab.core.metrics import NORMALIZER_RELEASE, normalize, normalizer_id
from pytest_speechlab.core.normalizers.english import EnglishTextNormalizer

from ..projects import bundled_cases

VENDORED = Path(__file__).resolve().parents[2] / "pytest_speechlab" / "core" / "normalizers"

NUMBERS = [
    "one hundred and five", "twenty-one", "1,234.5", "one oh one", "nineteen sixties", "the 1960s",
    "274th", "thirty second", "a million", "two point five", "$20 million", "£3.50", "€1,000",
    "20%", "twenty percent", "1/2", "half a dozen", "zero", "oh", "9 11", "ten thousand and one",
    "3rd", "1st place", "two thousand and twenty four", "1,000,000,000", "-7", "+44", "7.5e3",
]  # fmt: skip
DATES = ["March 3rd, 2021", "3/4/2021", "the 21st of June", "1999-12-31", "in '98", "at 9:30 pm", "5 o'clock"]
CONTRACTIONS = ["won't", "I'd've", "y'all", "can't", "it's", "he'll", "they're", "wouldn't've", "'cause"]
FILLERS = ["uh", "um", "hmm", "mm-hmm", "er", "ah", "Mr.", "Mrs.", "Dr.", "St.", "etc."]
SYMBOLS = ["[laughs]", "(inaudible)", "<noise>", "café", "naïve", "Straße", "—", "…", "&", "@", "#1", "é"]


def british_words() -> list[str]:
    """A sample of the spellings the normaliser maps (British to American), from its own table."""
    mapping = json.loads((VENDORED / "english.json").read_text())
    return sorted(mapping)[::25]


def varied_strings(count: int = 3000, seed: int = 7) -> list[str]:
    """Sentences mixing every kind of token above, in both cases and with punctuation."""
    rng = random.Random(seed)
    pools = [
        NUMBERS,
        DATES,
        CONTRACTIONS,
        FILLERS,
        SYMBOLS,
        british_words(),
        ["the", "And", "of", "a", "Hello"],
    ]
    out = [" ".join(pair) for pair in itertools.product(NUMBERS, ["dollars", "cents", "pounds", "times"])]
    while len(out) < count:
        words = [rng.choice(rng.choice(pools)) for _ in range(rng.randint(1, 9))]
        text = " ".join(w.upper() if rng.random() < 0.1 else w for w in words)
        out.append(text + rng.choice(["", ".", "?", "!", ",", " ..."]))
    return out


def test_known_outputs():
    """The rules at work, without openai-whisper installed."""
    assert (
        normalize("Mr. Smith's colour is grey, isn't it?") == "mister smith is color is gray is not it"
    )  # as Whisper's rules have it
    assert normalize("$20 million") == "$20000000"
    assert normalize("one hundred and five") == "105"
    assert normalize("Uh, hmm, [laughs] okay") == "okay"
    assert normalize("") == ""
    assert normalizer_id() == f"whisper.EnglishTextNormalizer (openai-whisper {NORMALIZER_RELEASE})"


@pytest.mark.full
def test_the_vendored_files_are_openai_whispers_own():
    whisper_normalizers = pytest.importorskip("whisper.normalizers")
    from importlib.metadata import version

    if version("openai-whisper") != NORMALIZER_RELEASE:
        pytest.skip(f"openai-whisper {version('openai-whisper')} is installed, not {NORMALIZER_RELEASE}")
    original = Path(whisper_normalizers.__file__).parent
    for name in ("basic.py", "english.py", "english.json"):
        assert (VENDORED / name).read_bytes() == (original / name).read_bytes(), name


@pytest.mark.full
def test_same_text_out_as_openai_whisper():
    whisper_normalizers = pytest.importorskip("whisper.normalizers")
    theirs = whisper_normalizers.EnglishTextNormalizer()
    ours = EnglishTextNormalizer()
    texts = [c.text for c in bundled_cases()] + varied_strings()
    assert len(texts) > 3000
    different = [t for t in texts if ours(t) != theirs(t)]
    assert different == []

"""The statistical corpus gate: a paired, seeded bootstrap over cases."""

from __future__ import annotations

import random

from pytest_speechlab.gate import Check
from pytest_speechlab.stats import bootstrap, paired, word_errors

WORDS = "the quick brown fox jumps over a lazy dog while seven tall ships sail past".split()


def corpus(cases: int = 40, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(6, 14))) for _ in range(cases)]


def worsen(text: str) -> str:
    """One substitution: the first word replaced."""
    words = text.split()
    return " ".join(["zebra", *words[1:]])


def corpus_wer_check(refs: list[str], before: list[str], after: list[str], tolerance: float) -> Check:
    change = bootstrap(paired(refs, before, after))
    return Check("corpus WER", change.after, change.before, change.before + tolerance, "test", change=change)


def test_one_word_change_is_noise_and_passes_even_beyond_the_tolerance():
    refs = corpus()
    after = [worsen(refs[0]), *refs[1:]]
    change = bootstrap(paired(refs, refs, after))
    assert change.changed_cases == 1 and change.delta > 0
    assert change.low == 0.0 and not change.significant
    check = corpus_wer_check(refs, refs, after, tolerance=0.001)
    assert not check.within and check.passed
    assert check.describe().endswith("1 changed): not significant, passes")


def test_a_real_regression_is_significant_and_fails_beyond_the_tolerance():
    refs = corpus()
    after = [worsen(r) if i % 3 else r for i, r in enumerate(refs)]  # 26 of 40 cases lose a word
    change = bootstrap(paired(refs, refs, after))
    assert change.changed_cases == 26
    assert change.significant and change.low > 0.01
    assert change.low < change.delta < change.high
    failing = corpus_wer_check(refs, refs, after, tolerance=0.02)
    assert not failing.passed and failing.describe().endswith(": significant")
    # significant but within a wide tolerance: passes, since both conditions are needed to fail
    assert corpus_wer_check(refs, refs, after, tolerance=0.2).passed


def test_improvement_and_no_change_pass():
    refs = corpus()
    worse = [worsen(r) for r in refs]
    better = bootstrap(paired(refs, worse, refs))
    assert better.delta < 0 and better.high < 0 and not better.significant
    same = bootstrap(paired(refs, refs, refs))
    assert (same.delta, same.low, same.high, same.changed_cases) == (0.0, 0.0, 0.0, 0)


def test_seeded_and_paired():
    refs = corpus()
    after = [worsen(r) if i % 4 == 0 else r for i, r in enumerate(refs)]
    assert bootstrap(paired(refs, refs, after)) == bootstrap(paired(refs, refs, after))
    assert bootstrap(paired(refs, refs, after), seed=7) != bootstrap(paired(refs, refs, after))


def test_non_speech_cases_are_left_out_and_errors_come_from_jiwer():
    data = paired(["a b c", "", "d e"], ["a b c", "", "d e"], ["a x c", "hallucinated words", "d"])
    assert list(data.words) == [3, 2] and list(data.after) == [1, 1]
    assert word_errors("a b c", "a c d e") == 3  # one deletion, two insertions

"""The statistical corpus gate: a paired, seeded bootstrap over cases."""

from __future__ import annotations

import random

import numpy as np
import pytest

from pytest_speechlab.core.stats import (
    Change,
    Paired,
    Slowdown,
    bootstrap,
    char_errors,
    paired,
    slowdown,
    word_errors,
)
from pytest_speechlab.gate.checks import Check

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


def test_one_slow_case_is_not_a_significant_slowdown():
    """Six timed cases; a noisy neighbour triples one of them: the total moves past +50%, the
    interval's lower bound does not, so the latency-subset check passes. A model twice as slow
    on every case is significant."""
    from pytest_speechlab.core.stats import slowdown

    before = np.array([0.43, 0.49, 0.58, 0.68, 0.76, 0.83])
    spike = before.copy()
    spike[5] *= 4  # 0.83 s -> 3.3 s
    one = slowdown(before, spike, expected=1.0)
    assert one.ratio > 1.5 and not one.significant
    every = slowdown(before, before * 2, expected=1.0)
    assert every.ratio == pytest.approx(2.0) and every.low == pytest.approx(2.0) and every.significant
    # a slowdown the machine calibration explains (x2 slower machine) is not a regression
    assert not slowdown(before, before * 2, expected=2.0).significant
    assert slowdown(before, spike, expected=1.0) == one  # seeded: the same interval every run


def test_the_interval_is_the_one_sided_95_percent_bound_of_the_resampled_change():
    """A hundred one-word cases, half of them one word worse: the change over a resample is a
    binomial share (mean 0.5, sd 0.05), so the 5th and 95th percentiles are about 0.42 and 0.58."""
    refs = ["word"] * 100
    after = ["other" if i % 2 else "word" for i in range(100)]
    change = bootstrap(paired(refs, refs, after))
    assert change.delta == 0.5 and change.changed_cases == 50 and change.cases == 100
    assert change.low == pytest.approx(0.418, abs=0.015)
    assert change.high == pytest.approx(0.582, abs=0.015)


def test_one_case_and_no_case():
    one = bootstrap(paired(["word"], ["word"], ["other"]))  # one case of one word, now wrong
    assert (one.before, one.after, one.low, one.high, one.cases, one.changed_cases) == (
        0.0,
        1.0,
        1.0,
        1.0,
        1,
        1,
    )
    assert one.significant
    assert bootstrap(paired([], [], [])) == Change(0.0, 0.0, 0.0, 0.0, 0, 0, "WER")
    assert bootstrap(paired(["", " "], ["", ""], ["noise", "words"])) == Change(
        0.0, 0.0, 0.0, 0.0, 0, 0, "WER"
    )
    silent = Paired(words=np.array([0.0]), before=np.array([1.0]), after=np.array([2.0]))
    assert bootstrap(silent, metric="CER") == Change(0.0, 0.0, 0.0, 0.0, 1, 0, "CER")


def test_every_case_is_drawn_and_an_improvement_stays_inside_its_interval():
    refs = corpus()
    first = [worsen(refs[0]), *refs[1:]]  # only the first case changed
    change = bootstrap(paired(refs, refs, first))
    assert change.high > 0 and change.low == 0.0
    assert change.describe().startswith("corpus WER change +0.0")
    worse = [worsen(r) for r in refs]
    better = bootstrap(paired(refs, worse, refs))
    assert better.low <= better.delta <= better.high < 0
    errors = sum(word_errors(r, w) for r, w in zip(refs, worse, strict=True))
    assert better.before == pytest.approx(errors / sum(len(r.split()) for r in refs))


def test_characters_and_words_are_counted_apart():
    assert char_errors("abc", "abxc") == 1  # one insertion
    assert char_errors("abcd", "ab") == 2  # two deletions
    assert char_errors("abcd", "xbcdef") == 3  # one substitution, two insertions
    chars = paired(["ab cd", "e"], ["ab cd", "e"], ["ab", "x"], unit="char")
    assert list(chars.words) == [5, 1] and list(chars.after) == [3, 1]
    words = paired(["ab cd", "e"], ["ab cd", "e"], ["ab", "x"])
    assert list(words.words) == [2, 1] and list(words.after) == [1, 1]
    with pytest.raises(ValueError):
        paired(["a", "b"], ["a"], ["a", "b"])  # a case without its baseline hypothesis


def test_a_slowdown_of_short_latencies_and_the_empty_subset():
    """Latencies of a few tens of milliseconds: the ratio is of the times themselves, however small."""
    before = np.array([0.02, 0.03, 0.04])
    double = slowdown(before, before * 2, expected=1.0)
    assert (double.ratio, double.low, double.high, double.cases) == (
        pytest.approx(2.0),
        pytest.approx(2.0),
        pytest.approx(2.0),
        3,
    )
    assert (
        double.describe()
        == "latency ratio x2.00 [x2.00, x2.00] (95% one-sided bootstrap over 3 cases, x1.00 expected)"
    )
    single = slowdown(np.array([0.5]), np.array([0.75]), expected=1.0)
    assert (single.ratio, single.low, single.high, single.cases) == (1.5, 1.5, 1.5, 1)
    assert slowdown(np.array([]), np.array([]), expected=1.0) == Slowdown(1.0, 1.0, 1.0, 1.0, 0)
    assert slowdown(np.zeros(2), np.ones(2), expected=1.0).ratio == 1.0  # no time to compare with


def test_the_slowdown_interval_is_the_one_sided_95_percent_bound():
    """A hundred cases, half of them twice as slow: the resampled ratio is 1 + a binomial share."""
    before = np.ones(100)
    after = np.where(np.arange(100) % 2, 2.0, 1.0)
    change = slowdown(before, after, expected=1.0)
    assert change.ratio == 1.5 and change.cases == 100
    assert change.low == pytest.approx(1.418, abs=0.015) and change.high == pytest.approx(1.582, abs=0.015)


def test_the_p_value_is_the_share_of_resamples_without_a_regression():
    """(k + 1) / (resamples + 1), k the resamples whose change is not above zero: what the slices
    correct for their number."""
    refs = corpus()
    assert bootstrap(paired(refs, refs, refs)).p_value == 1.0  # every resample: no change
    many = bootstrap(paired(refs, refs, [worsen(r) if i % 3 else r for i, r in enumerate(refs)]))
    assert many.p_value == 1 / 2001  # no resample without a regression
    one = bootstrap(paired(refs, refs, [worsen(refs[0]), *refs[1:]]))
    assert one.p_value == pytest.approx((39 / 40) ** 40, abs=0.03)  # the resamples that miss case 0
    assert bootstrap(paired(refs, refs, refs), resamples=99).p_value == 1.0
    assert bootstrap(paired(refs, refs, [worsen(r) for r in refs]), resamples=99).p_value == 0.01

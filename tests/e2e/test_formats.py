"""Standard dataset formats load to the same cases as our YAML manifest, decode the same samples,
and give the real engine the same hypotheses and corpus WER.

The corpus is built from bundled cases: one card call, and the JFK clip cut into two spans at a
pause (7.9 s) by a NeMo ``offset``, Kaldi ``segments``, lhotse supervisions and cuts; the
Hugging Face dataset holds the same three as embedded WAV bytes (the spans' PCM samples as they
are). The YAML manifest says the same with ``offset`` and ``duration``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import importlib
import importlib.util
import io
import json
import shutil
import time
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
import yaml

from pytest_speechlab.core.case import Case
from pytest_speechlab.errors import SpeechlabError
from pytest_speechlab.io.audio import case_audio
from pytest_speechlab.io.formats import detect, first_line, resolve_spec, split_spec
from pytest_speechlab.io.formats.common import case_id, duration_tag, numbered_lines
from pytest_speechlab.io.manifest import Reach, load_manifest, reach, within
from pytest_speechlab.measure.run import AudioCache

from ..projects import REPO, bundled_cases

# pytester's in-process runs drop the modules a test imported when it ends, and datasets cannot
# be imported twice in one process (it registers pyarrow extension types): import the optional
# readers' libraries here, at collection, before any test.
for _optional in ("datasets", "lhotse"):
    with contextlib.suppress(ImportError):
        importlib.import_module(_optional)

SPLIT_S = 7.9  # in the pause after "... can do for you,"
CARDS = "ten of clubs"
FIRST = "And so my fellow Americans, ask not what your country can do for you,"
SECOND = "ask what you can do for your country."
# what tiny.en makes of the spans, normalised
FIRST_HEARD = "and so my fellow americans ask not what your country can do for you"
SECOND_HEARD = "ask what you can do for your country"
# id, file, text, speaker, span (None: the whole file)
CASES = [
    ("cards_001", "cards_001.wav", CARDS, "cards", None),
    ("jfk_0000000", "jfk.wav", FIRST, "jfk", (0.0, SPLIT_S)),
    ("jfk_0007900", "jfk.wav", SECOND, "jfk", (SPLIT_S, 3.1)),
]


def _tags(duration: float, speaker: str) -> list[str]:
    return [duration_tag(duration), "lang_en", f"spk_{speaker}"]


def write_yaml(folder: Path) -> Path:
    entries = []
    for cid, name, text, speaker, span in CASES:
        duration = span[1] if span else soundfile.info(folder / "audio" / name).duration
        entry: dict[str, Any] = {"id": cid, "audio": f"audio/{name}", "text": text, "language": "en"}
        entry |= {"speaker": speaker, "tags": _tags(duration, speaker)}
        if span:
            entry |= {"offset": span[0], "duration": span[1]}
        entries.append(entry)
    path = folder / "manifest.yaml"
    path.write_text(yaml.safe_dump({"cases": entries}, sort_keys=False))
    return path


def write_nemo(folder: Path) -> Path:
    lines = []
    for _, name, text, speaker, span in CASES:
        line: dict[str, Any] = {
            "audio_filepath": f"audio/{name}",
            "text": text,
            "lang": "en",
            "speaker": speaker,
        }
        if span:
            line |= {"offset": span[0], "duration": span[1]}
        else:
            line["duration"] = soundfile.info(folder / "audio" / name).duration
        lines.append(json.dumps(line))
    path = folder / "nemo.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_kaldi(folder: Path) -> Path:
    data = folder / "kaldi"
    data.mkdir()
    (data / "wav.scp").write_text("cards_001 ../audio/cards_001.wav\njfk ../audio/jfk.wav\n")
    segments, text, utt2spk, utt2lang = [], [], [], []
    for cid, name, words, speaker, span in CASES:
        start, length = span or (0.0, soundfile.info(folder / "audio" / name).duration)
        segments.append(f"{cid} {Path(name).stem} {start} {start + length}")
        text.append(f"{cid} {words}")
        utt2spk.append(f"{cid} {speaker}")
        utt2lang.append(f"{cid} en")
    for name, rows in (("segments", segments), ("text", text), ("utt2spk", utt2spk), ("utt2lang", utt2lang)):
        (data / name).write_text("\n".join(rows) + "\n")
    return data


def _wav_bytes(path: Path, span: tuple[float, float] | None) -> bytes:
    """The file's bytes, or a WAV of the span's samples as they are (same PCM subtype)."""
    if span is None:
        return path.read_bytes()
    info = soundfile.info(path)
    start = round(span[0] * info.samplerate)
    samples, rate = soundfile.read(path, dtype="int16", start=start, frames=round(span[1] * info.samplerate))
    out = io.BytesIO()
    soundfile.write(out, samples, rate, subtype=info.subtype, format="WAV")
    return out.getvalue()


def write_hf(folder: Path) -> tuple[Path, Path]:
    """A save_to_disk DatasetDict (test and train splits) and the test split as parquet."""
    datasets = pytest.importorskip("datasets")
    rows: dict[str, list[Any]] = {"id": [], "audio": [], "text": [], "speaker_id": [], "language": []}
    for cid, name, text, speaker, span in CASES:
        rows["id"].append(cid)
        rows["audio"].append({"bytes": _wav_bytes(folder / "audio" / name, span), "path": f"{cid}.wav"})
        rows |= {"text": [*rows["text"], text], "speaker_id": [*rows["speaker_id"], speaker]}
        rows["language"].append("en")
    test = datasets.Dataset.from_dict(rows).cast_column("audio", datasets.Audio())
    saved = folder / "hf_disk"
    datasets.DatasetDict({"test": test, "train": test.select([0])}).save_to_disk(str(saved))
    parquet = folder / "hf_parquet" / "data" / "test-00000-of-00001.parquet"
    parquet.parent.mkdir(parents=True)
    test.to_parquet(str(parquet))
    return saved, parquet


def write_lhotse(folder: Path) -> tuple[Path, Path]:
    """Recordings and supervisions (lhotse's recipe names), and cuts trimmed to the supervisions."""
    lhotse = pytest.importorskip("lhotse")
    recordings = lhotse.RecordingSet.from_recordings(
        lhotse.Recording.from_file(folder / "audio" / name, recording_id=Path(name).stem)
        for name in ("cards_001.wav", "jfk.wav")
    )
    sups = []
    for cid, name, text, speaker, span in CASES:
        start, length = span or (0.0, recordings[Path(name).stem].duration)
        sups.append(
            lhotse.SupervisionSegment(
                cid, Path(name).stem, start, length, text=text, language="en", speaker=speaker
            )
        )
    supervisions = lhotse.SupervisionSet.from_segments(sups)
    recordings.to_file(folder / "corpus_recordings_test.jsonl.gz")
    supervisions.to_file(folder / "corpus_supervisions_test.jsonl.gz")
    cuts = lhotse.CutSet.from_manifests(recordings=recordings, supervisions=supervisions)
    cuts.trim_to_supervisions().to_file(folder / "corpus_cuts_test.jsonl.gz")
    return folder / "corpus_supervisions_test.jsonl.gz", folder / "corpus_cuts_test.jsonl.gz"


def write_corpus(folder: Path) -> dict[str, str]:
    """Every format of the corpus under ``folder``, by name: the spec that loads it."""
    (folder / "audio").mkdir(parents=True)
    for name in ("cards_001.wav", "jfk.wav"):
        shutil.copy(REPO / "data" / "audio" / name, folder / "audio" / name)
    specs = {
        "yaml": str(write_yaml(folder)),
        "nemo": str(write_nemo(folder)),
        "kaldi": str(write_kaldi(folder)),
    }
    if importlib.util.find_spec("datasets"):  # the test-full extra: CI's second stage
        saved, parquet = write_hf(folder)
        specs |= {
            "hf": f"hf:{saved}?split=test",
            "hf_parquet": str(parquet),
            "hf_parquet_folder": f"{parquet.parents[1]}?split=test",
        }
    if importlib.util.find_spec("lhotse"):
        supervisions, cuts = write_lhotse(folder)
        specs |= {"lhotse": str(supervisions), "lhotse_cuts": str(cuts)}
    return specs


def needs(corpus: dict[str, str], *formats: str) -> None:
    """Skip unless the libraries of ``formats`` are installed (the test-full extra)."""
    missing = [f for f in formats if f not in corpus]
    if missing:
        pytest.skip(f"{', '.join(missing)}: needs the test-full extra")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


def described(case: Case) -> tuple[Any, ...]:
    """What must agree between formats (the audio's container may differ, its samples not)."""
    return (case.text, case.tags, round(case.duration_s, 6), case.language, case.speaker, case.sample_rate)


HEAVY = ["hf", "hf_parquet", "hf_parquet_folder", "lhotse", "lhotse_cuts"]
FORMATS = ["nemo", "kaldi", *(pytest.param(f, marks=pytest.mark.full) for f in HEAVY)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_loads_the_same_cases_and_samples(corpus, fmt):
    needs(corpus, fmt)
    expected = {c.id: c for c in load_manifest(corpus["yaml"]).cases}
    got = {c.id: c for c in load_manifest(corpus[fmt]).cases}
    assert sorted(got) == sorted(expected)
    for cid, case in got.items():
        assert described(case) == described(expected[cid]), cid
        np.testing.assert_array_equal(case_audio(case, 16000), case_audio(expected[cid], 16000), err_msg=cid)


def test_a_span_decodes_only_its_samples(corpus):
    cases = {c.id: c for c in load_manifest(corpus["nemo"]).cases}
    whole, _ = soundfile.read(REPO / "data" / "audio" / "jfk.wav", dtype="float32")
    cut = round(SPLIT_S * 16000)
    np.testing.assert_array_equal(case_audio(cases["jfk_0000000"], 16000), whole[:cut])
    np.testing.assert_array_equal(case_audio(cases["jfk_0007900"], 16000), whole[cut:])
    assert cases["jfk_0007900"].offset_s == SPLIT_S and cases["cards_001"].offset_s is None


def test_the_audio_cache_keeps_two_spans_of_one_file_apart(corpus):
    cases = {c.id: c for c in load_manifest(corpus["kaldi"]).cases}
    cache = AudioCache()
    first, second = cache.get(cases["jfk_0000000"], 16000), cache.get(cases["jfk_0007900"], 16000)
    assert len(first) == round(SPLIT_S * 16000) and len(second) == 176000 - len(first)
    assert cache.get(cases["jfk_0000000"], 16000) is first  # decoded once


@pytest.mark.full
def test_embedded_audio_is_a_reference_to_its_row_not_a_copy(corpus):
    needs(corpus, "hf")
    cases = load_manifest(corpus["hf"]).cases
    assert all(c.embedded is not None and c.audio.suffix == ".arrow" for c in cases)
    assert [c.embedded.row for c in cases if c.embedded] == [0, 1, 2]
    parquet = load_manifest(corpus["hf_parquet"]).cases
    assert all(c.audio.suffix == ".parquet" for c in parquet)


def test_detection_and_prefixes(corpus):
    assert detect(Path(corpus["nemo"])) == "nemo"
    assert detect(Path(corpus["kaldi"])) == "kaldi"
    assert detect(Path(corpus["yaml"])) == "yaml"
    assert load_manifest("nemo:" + corpus["nemo"]).cases[0].id == "cards_001"
    assert split_spec("hf:data/x?split=test&text=sentence") == ("hf", "data/x", "split=test&text=sentence")
    assert split_spec("C:/data/x.yaml") == (None, "C:/data/x.yaml", "")
    assert resolve_spec("hf:ds?split=test", Path("/proj")) == "hf:/proj/ds?split=test"
    assert resolve_spec("data/manifest.yaml", Path("/proj")) == "/proj/data/manifest.yaml"


@pytest.mark.full
def test_detection_of_the_heavy_formats(corpus):
    needs(corpus, "hf", "lhotse")
    assert detect(Path(corpus["hf"].removeprefix("hf:").partition("?")[0])) == "hf"
    assert detect(Path(corpus["hf_parquet"])) == "hf"
    assert detect(Path(corpus["lhotse"])) == "lhotse" and detect(Path(corpus["lhotse_cuts"])) == "lhotse"


def test_ids_and_tags_are_made_valid():
    assert case_id("61-70968-0000") == "61_70968_0000"
    assert case_id("--x y.z") == "x_y.z"
    assert [duration_tag(s) for s in (4.99, 5.0, 15.0, 30.0)] == [
        "dur_lt5s",
        "dur_5_15s",
        "dur_15_30s",
        "dur_ge30s",
    ]


def test_the_speech_tags_select_on_derived_tags(corpus):
    manifest = load_manifest(corpus["kaldi"])
    assert [c.id for c in manifest.select(["spk_jfk"])] == ["jfk_0000000", "jfk_0007900"]
    assert [c.id for c in manifest.select(["dur_5_15s"])] == ["jfk_0000000"]


def _copy(corpus: dict[str, str], fmt: str, tmp_path: Path) -> Path:
    """A copy of one format's files beside a copy of the audio, to break."""
    source = Path(split_spec(corpus[fmt])[1])
    shutil.copytree(source.parent / "audio", tmp_path / "audio")
    target = tmp_path / source.name
    (shutil.copytree if source.is_dir() else shutil.copy)(source, target)
    return target


def _edit_lines(path: Path, edit) -> None:
    path.write_text("".join(edit(line) + "\n" for line in path.read_text().splitlines()))


@pytest.mark.parametrize("field", ["audio_filepath", "text", "duration"])
def test_nemo_line_without_a_field(corpus, tmp_path, field):
    path = _copy(corpus, "nemo", tmp_path)
    _edit_lines(path, lambda line: json.dumps({k: v for k, v in json.loads(line).items() if k != field}))
    with pytest.raises(SpeechlabError, match=rf"^{path}:1: NeMo manifest line has no '{field}'$"):
        load_manifest(f"nemo:{path}")


def test_nemo_span_past_the_end(corpus, tmp_path):
    path = _copy(corpus, "nemo", tmp_path)
    _edit_lines(path, lambda line: line.replace('"duration": 3.1', '"duration": 9.0'))
    with pytest.raises(SpeechlabError, match=rf"^{path}:3: span 7.9-16.9 s ends after the audio's 11 s$"):
        load_manifest(path)


@pytest.mark.parametrize(
    ("file", "edit", "message"),
    [
        ("wav.scp", lambda s: s.replace("../audio/jfk.wav", "sox ../audio/jfk.wav -t wav - |"),
         r"wav.scp:2: Kaldi wav.scp entry 'jfk' is a piped command; only plain audio paths are read"),
        ("wav.scp", lambda s: s.replace("../audio/jfk.wav", "feats.ark:42"),
         r"wav.scp:2: Kaldi wav.scp entry 'jfk' is an archive offset; only plain paths"),
        ("wav.scp", lambda s: s.replace("../audio/jfk.wav", ""),
         r"wav.scp:2: Kaldi wav.scp line has no path for 'jfk'"),
        ("segments", lambda s: s.replace(" jfk ", " jfk2 ", 1),
         r"segments:2: Kaldi segments: recording 'jfk2' is not in wav.scp"),
        ("segments", lambda s: s.replace("jfk_0007900", "other"),
         r"text:3: Kaldi text: utterance 'jfk_0007900' is not in segments"),
        ("segments", lambda s: s.replace(" 7.9 11.0", " 7.9"),
         r"segments:3: Kaldi segments line needs 4 fields, has 3"),
        ("text", lambda s: s + "cards_001 again\n", r"text:4: Kaldi text lists 'cards_001' twice"),
    ],
)  # fmt: skip
def test_kaldi_data_dir_problems(corpus, tmp_path, file, edit, message):
    folder = _copy(corpus, "kaldi", tmp_path)
    (folder / file).write_text(edit((folder / file).read_text()))
    with pytest.raises(SpeechlabError, match=rf"^{folder}/{message}$".replace("|", r"\|")):
        load_manifest(folder)


def test_kaldi_segment_ending_at_minus_one_runs_to_the_end(corpus, tmp_path):
    folder = _copy(corpus, "kaldi", tmp_path)
    (folder / "segments").write_text((folder / "segments").read_text().replace(" 7.9 11.0", " 7.9 -1"))
    case = load_manifest(folder).cases[2]
    assert (case.offset_s, round(case.duration_s, 6)) == (SPLIT_S, 3.1)


def test_kaldi_without_segments_takes_whole_recordings(corpus, tmp_path):
    folder = _copy(corpus, "kaldi", tmp_path)
    (folder / "segments").unlink()
    (folder / "text").write_text(f"cards_001 {CARDS}\njfk {FIRST} {SECOND}\n")
    cases = load_manifest(folder).cases
    assert [(c.id, c.offset_s, c.duration_s) for c in cases] == [
        ("cards_001", None, 1.095375),
        ("jfk", None, 11.0),
    ]
    assert cases[1].speaker is None and cases[1].tags == ("dur_5_15s",)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("", "Hugging Face dataset has splits test, train; choose with ?split=NAME"),
        ("?split=dev", "Hugging Face dataset has no split 'dev' (has test, train)"),
        ("?split=test&text=sentence", "Hugging Face dataset has no text column 'sentence' (*)"),
        (
            "?split=test&texts=text",
            "unknown hf option(s) texts (known: split, audio, text, id, speaker, language)",
        ),
    ],
)
@pytest.mark.full
def test_hf_options_that_do_not_fit(corpus, options, message):
    needs(corpus, "hf")
    path = split_spec(corpus["hf"])[1]
    with pytest.raises(SpeechlabError) as info:
        load_manifest(f"hf:{path}{options}")
    assert fnmatch(str(info.value), f"*{message}"), str(info.value)


@pytest.mark.full
def test_hf_row_without_text_names_the_file_and_row(corpus, tmp_path):
    needs(corpus, "hf")
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = Path(corpus["hf_parquet"])
    table = pq.read_table(source)
    texts = table.column("text").to_pylist()
    table = table.set_column(
        table.schema.get_field_index("text"), "text", pa.array([texts[0], None, texts[2]])
    )
    path = tmp_path / "broken.parquet"
    pq.write_table(table, path)
    with pytest.raises(
        SpeechlabError, match=rf"^{path} row 1: Hugging Face dataset: no text in column 'text'$"
    ):
        load_manifest(path)
    table = table.drop_columns(["text"])
    pq.write_table(table, path)
    with pytest.raises(SpeechlabError, match=r"Hugging Face dataset: no text column found among id, audio, "):
        load_manifest(path)


@pytest.mark.full
def test_lhotse_problems(corpus, tmp_path):
    needs(corpus, "lhotse")
    import lhotse

    supervisions = lhotse.load_manifest(corpus["lhotse"])
    recordings_path = corpus["lhotse"].replace("supervisions", "recordings")
    recordings = lhotse.load_manifest(recordings_path)
    lone = tmp_path / "lone_supervisions.jsonl.gz"
    supervisions.to_file(lone)
    with pytest.raises(
        SpeechlabError, match=r"lhotse supervisions need their recordings: give them with \?recordings="
    ):
        load_manifest(lone)
    spec = f"lhotse:{lone}?recordings={recordings_path}"
    with pytest.raises(
        SpeechlabError,
        match=r"supervision 'cards_001': audio path '.*/corpus0/audio/cards_001.wav' leaves the",
    ):
        load_manifest(spec)  # the recordings' audio is in the corpus, not beside these supervisions
    assert len(load_manifest(spec, audio_root=Path(corpus["lhotse"]).parents[1]).cases) == 3

    path = tmp_path / "x_supervisions.jsonl.gz"
    recordings.to_file(tmp_path / "x_recordings.jsonl.gz")
    lhotse.SupervisionSet.from_segments(dataclasses.replace(s, text=None) for s in supervisions).to_file(path)
    with pytest.raises(SpeechlabError, match=r"supervision 'cards_001': lhotse supervision has no text$"):
        load_manifest(path)

    supervisions.to_file(path)
    piped = lhotse.RecordingSet.from_recordings(
        dataclasses.replace(
            r, sources=[lhotse.audio.AudioSource("command", [0], f"cat {r.sources[0].source}")]
        )
        for r in recordings
    )
    piped.to_file(tmp_path / "x_recordings.jsonl.gz")
    with pytest.raises(
        SpeechlabError, match=r"lhotse recording 'cards_001' must be one audio file \(sources: command\)"
    ):
        load_manifest(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"offset": -1.0}, "span offset -1 s, duration 7.9 s is empty or negative"),
        ({"offset": 9.0}, "span 9-16.9 s ends after the audio's 11 s"),
        ({"offset": 11.2, "duration": None}, "span starts at 11.2 s, after the audio's 11 s"),
        ({"duration": "long"}, "duration must be a number of seconds, got 'long'"),
    ],
)
def test_yaml_span_problems(corpus, tmp_path, change, message):
    path = _copy(corpus, "yaml", tmp_path)
    data = yaml.safe_load(path.read_text())
    data["cases"][1] |= change
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(SpeechlabError, match=rf"case 'jfk_0000000': {message}$"):
        load_manifest(path)


def test_unknown_json_and_folders_say_what_they_expected(tmp_path):
    (tmp_path / "x.jsonl").write_text('{"file": "a.wav"}\n')
    with pytest.raises(SpeechlabError, match=r"cannot tell the format of this JSON file .*prefix the path"):
        load_manifest(tmp_path / "x.jsonl")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpeechlabError, match=r"empty: not a manifest folder"):
        load_manifest(tmp_path / "empty")
    with pytest.raises(SpeechlabError, match=r"nothing\.jsonl: manifest not found$"):
        load_manifest(f"nemo:{tmp_path}/nothing.jsonl")


@pytest.mark.parametrize(
    "formats", [("nemo", "kaldi"), pytest.param(("hf", "lhotse"), marks=pytest.mark.full)]
)
def test_every_format_gives_the_real_engine_the_same_hypotheses_and_corpus_wer(project, formats):
    """Faster-Whisper tiny.en on the same three cases from each format: the same transcripts.
    Specs are given as users write them: relative on the command line (kaldi), with options
    (hf), and in pyproject.toml, relative to it (lhotse)."""
    specs = write_corpus(project.path / "corpus")
    needs(specs, *formats)
    specs["kaldi"] = "kaldi:corpus/kaldi"
    if "lhotse" in formats:
        specs["lhotse"] = ""
        pyproject = project.path / "pyproject.toml"
        in_file = "lhotse:corpus/corpus_supervisions_test.jsonl.gz"
        pyproject.write_text(pyproject.read_text().replace("data/manifest.yaml", in_file))
    results = {}
    for fmt in ("yaml", *formats):
        out = project.path / f"{fmt}.json"
        args = [f"--speech-results={out}", "--speech-new-cases=pass", "-k", "test_wer or test_corpus"]
        run = project.run(*args, *([f"--speech-manifest={specs[fmt]}"] if specs[fmt] else []))
        assert run.ret == 0, fmt + run.stdout.str()[-3000:]
        results[fmt] = json.loads(out.read_text())
    expected = results.pop("yaml")
    hypotheses = {c["id"]: c["hypothesis"] for c in expected["cases"]}
    assert hypotheses == {"cards_001": "10 of clubs", "jfk_0000000": FIRST_HEARD, "jfk_0007900": SECOND_HEARD}
    for fmt, got in results.items():
        assert {c["id"]: c["hypothesis"] for c in got["cases"]} == hypotheses, fmt
        assert got["corpus"]["wer"] == expected["corpus"]["wer"], fmt
        assert {c["id"]: c["audio_s"] for c in got["cases"]} == {
            c["id"]: c["audio_s"] for c in expected["cases"]
        }


@pytest.mark.full
def test_a_bad_spec_stops_the_run_in_one_line(project):
    needs(write_corpus(project.path / "corpus"), "hf")
    run = project.run("--speech-manifest=hf:corpus/hf_disk")
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    run.stderr.fnmatch_lines(
        ["ERROR: */corpus/hf_disk: Hugging Face dataset has splits test, train; choose with ?split=NAME"]
    )


# --- what a manifest may reach, and how it is read ---------------------------------------------
# The audit: YAML manifests kept their audio inside their folder; NeMo, Kaldi, Hugging Face file
# paths and lhotse took ../ and absolute paths; a NeMo .jsonl.gz was detected but opened as text;
# telling a JSON format read a whole first line, however long.

OUTSIDE = ["dotdot", "absolute", "symlink"]
READERS = ["nemo", "kaldi", *(pytest.param(f, marks=pytest.mark.full) for f in ("hf", "lhotse"))]


def nemo_line(audio: str, text: str = "ten of clubs", duration: float = 1.0) -> str:
    return json.dumps({"audio_filepath": audio, "text": text, "duration": duration}) + "\n"


@pytest.fixture
def outside(tmp_path: Path) -> tuple[Path, Path]:
    """A project folder with a manifest folder in it, and an audio file beside (not inside) that."""
    case = bundled_cases()[0]
    (tmp_path / "elsewhere").mkdir()
    shutil.copy(case.audio, tmp_path / "elsewhere" / "a.wav")
    (tmp_path / "data").mkdir()
    shutil.copy(case.audio, tmp_path / "data" / "in.wav")
    return tmp_path / "data", tmp_path / "elsewhere" / "a.wav"


def named(kind: str, folder: Path, audio: Path) -> str:
    """How a manifest in ``folder`` names ``audio``, which lies outside it: by ``..``, by its
    absolute path, or by a link inside the folder that points out."""
    if kind == "symlink":
        (folder / "link.wav").symlink_to(audio)
        return "link.wav"
    return "../elsewhere/a.wav" if kind == "dotdot" else str(audio)


def write_two(fmt: str, folder: Path, other: str) -> tuple[str, str, str]:
    """A ``fmt`` manifest in ``folder`` of two cases, ``in.wav`` beside it and ``other``: its spec,
    where a message about the second names it, and how it names ``other``."""
    if fmt == "nemo":
        (folder / "m.jsonl").write_text(nemo_line("in.wav") + nemo_line(other))
        return str(folder / "m.jsonl"), f"m.jsonl:2: case '{Path(other).stem}'", other
    if fmt == "kaldi":  # paths are taken from the data directory, one below the folder
        data = folder / "kaldi"
        data.mkdir()
        up = other if Path(other).is_absolute() else f"../{other}"
        (data / "wav.scp").write_text(f"in ../in.wav\nout {up}\n")
        (data / "text").write_text("in ten of clubs\nout ten of clubs\n")
        return str(data), "kaldi/wav.scp:2: recording 'out'", up
    if fmt == "hf":
        pytest.importorskip("datasets")
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({"audio": ["in.wav", other], "text": ["ten of clubs"] * 2})
        pq.write_table(table, folder / "m.parquet")
        return str(folder / "m.parquet"), "m.parquet row 1", other
    lhotse = pytest.importorskip("lhotse")
    recordings, supervisions = [], []
    for rid, path in (("in", "in.wav"), ("out", other)):
        recording = lhotse.Recording.from_file(folder / "in.wav", recording_id=rid)
        source = lhotse.audio.AudioSource("file", [0], path)
        recordings.append(dataclasses.replace(recording, sources=[source]))
        supervisions.append(lhotse.SupervisionSegment(rid, rid, 0.0, recording.duration, text="ten of clubs"))
    lhotse.RecordingSet.from_recordings(recordings).to_file(folder / "m_recordings.jsonl.gz")
    lhotse.SupervisionSet.from_segments(supervisions).to_file(folder / "m_supervisions.jsonl.gz")
    return str(folder / "m_supervisions.jsonl.gz"), "m_supervisions.jsonl.gz: supervision 'out'", other


def test_within_keeps_a_manifests_files_inside_its_folder(tmp_path):
    """The one rule every format uses: links and ``..`` resolved, then inside the folder."""
    folder, sibling = tmp_path / "data", tmp_path / "data2"
    for name in ("data/sub", "data2", "elsewhere"):
        (tmp_path / name).mkdir(parents=True)
    (tmp_path / "elsewhere" / "x.wav").touch()
    (folder / "link.wav").symlink_to(tmp_path / "elsewhere" / "x.wav")
    own = reach(folder, None)
    assert own == Reach(folder.resolve()) and str(own) == "the manifest folder"
    assert within("w", "audio", "sub/../a.wav", folder, own) == folder.resolve() / "a.wav"
    assert within("w", "audio", str(folder / "b.wav"), sibling, own) == folder.resolve() / "b.wav"
    for given, base, message in [
        ("../elsewhere/x.wav", folder, "audio path '../elsewhere/x.wav' leaves the manifest folder"),
        (str(sibling / "x.wav"), folder, f"audio path '{sibling}/x.wav' leaves the manifest folder"),
        ("x.wav", sibling, "audio path 'x.wav' leaves the manifest folder"),
        ("link.wav", folder, f"audio path 'link.wav' (a link to {tmp_path}/elsewhere/x.wav) leaves"),
    ]:
        with pytest.raises(SpeechlabError) as info:
            within("m.jsonl:2: case 'x'", "audio", given, base, own)
        assert str(info.value).startswith(f"m.jsonl:2: case 'x': {message}"), str(info.value)
    root = reach(folder, tmp_path)
    assert root == Reach(tmp_path.resolve(), named=True)
    assert within("w", "audio", "link.wav", folder, root) == (tmp_path / "elsewhere" / "x.wav").resolve()
    with pytest.raises(SpeechlabError, match=rf"^w: alignment path 'a.wav' leaves the audio root {sibling}$"):
        within("w", "alignment", "a.wav", folder, reach(folder, sibling))


@pytest.mark.parametrize("kind", OUTSIDE)
@pytest.mark.parametrize("fmt", READERS)
def test_every_format_keeps_its_audio_inside_the_manifests_folder(outside, fmt, kind):
    folder, audio = outside
    spec, where, given = write_two(fmt, folder, named(kind, folder, audio))
    with pytest.raises(SpeechlabError) as info:
        load_manifest(spec)
    message = str(info.value)
    assert message.startswith(f"{folder}/{where}: audio path {given!r}") and "\n" not in message, message
    assert message.endswith(" leaves the manifest folder"), message
    # --speech-audio-root names the folder instead: one that holds both lets them in, one that
    # holds only the other file keeps out the one beside the manifest
    assert len(load_manifest(spec, audio_root=folder.parent).cases) == 2
    with pytest.raises(
        SpeechlabError, match=rf"audio path '(../)?in.wav' leaves the audio root {audio.parent}$"
    ):
        load_manifest(spec, audio_root=audio.parent)


def test_a_yaml_manifest_keeps_its_alignment_inside_and_may_reach_an_explicit_audio_root(outside):
    folder, audio = outside
    (folder / "m.yaml").write_text("cases:\n  - {id: a, audio: ../elsewhere/a.wav, text: ten of clubs}\n")
    with pytest.raises(SpeechlabError, match=r"audio path '../elsewhere/a.wav' leaves the manifest folder$"):
        load_manifest(folder / "m.yaml")
    assert load_manifest(folder / "m.yaml", audio_root=folder.parent).cases[0].id == "a"
    with pytest.raises(
        SpeechlabError, match=r"audio path '../elsewhere/a.wav' leaves the audio root .*data$"
    ):
        load_manifest(folder / "m.yaml", audio_root=folder)
    (audio.parent / "a.TextGrid").touch()
    (folder / "link.TextGrid").symlink_to(audio.parent / "a.TextGrid")
    (folder / "m.yaml").write_text(
        "cases:\n  - {id: a, audio: in.wav, text: ten of clubs, alignment: link.TextGrid}\n"
    )
    with pytest.raises(SpeechlabError, match=r"m.yaml:2: case 'a': alignment path 'link.TextGrid' \(a link"):
        load_manifest(folder / "m.yaml")


def test_a_gzipped_nemo_manifest_is_told_and_read_through_gzip(outside):
    folder, _ = outside
    (folder / "m.jsonl.gz").write_bytes(gzip.compress(nemo_line("in.wav").encode()))
    assert detect(folder / "m.jsonl.gz") == "nemo"
    assert [c.id for c in load_manifest(folder / "m.jsonl.gz").cases] == ["in"]


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (gzip.compress(nemo_line("in.wav").encode())[:-12], "EOFError: Compressed file ended"),
        (nemo_line("in.wav").encode(), "BadGzipFile: Not a gzipped file"),
        (gzip.compress(b'{"audio_filepath": "\xff"}\n'), "UnicodeDecodeError: 'utf-8' codec"),
    ],
    ids=["truncated", "not-gzip", "not-utf8"],  # the same on every xdist worker (gzip stamps the time)
)
@pytest.mark.parametrize("prefix", ["", "nemo:", pytest.param("lhotse:", marks=pytest.mark.full)])
def test_a_corrupt_gzip_manifest_is_one_line_naming_it(tmp_path, content, error, prefix):
    path = tmp_path / "m.jsonl.gz"
    path.write_bytes(content)
    with pytest.raises(SpeechlabError) as info:
        load_manifest(f"{prefix}{path}")
    assert str(info.value).startswith(f"{path}: cannot read ({error}"), str(info.value)
    assert "\n" not in str(info.value)


def test_lines_are_read_to_a_bound(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text("12345678\n\n123456789\n")
    lines = numbered_lines(path, limit=8)
    assert next(lines) == (1, "12345678\n") and next(lines) == (2, "\n")
    with pytest.raises(SpeechlabError, match=rf"^{path}:3: a line over 8 characters$"):
        next(lines)
    path.write_text("12345678")
    assert list(numbered_lines(path, limit=8)) == [(1, "12345678")]
    path.write_text("  \n\n  {}  \n" + "x" * 100)
    assert first_line(path, limit=8) == "{}"
    path.write_text("\n" + "x" * 100 + "\n{}\n")
    assert first_line(path, limit=8) == "x" * 7  # the first line's start: the rest is not read


@pytest.fixture(scope="module")
def huge(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A gzip whose first line decompresses to 1 GiB: one compressed MiB of ``a`` repeated as
    gzip members (which read as one stream), 1 MiB on disk, written in milliseconds."""
    path = tmp_path_factory.mktemp("huge") / "huge.jsonl.gz"
    member = gzip.compress(b"a" * 2**20, compresslevel=9)
    path.write_bytes(gzip.compress(b'{"audio_filepath": "') + member * 1024)
    return path


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        ("", "cannot tell the format of this JSON file"),
        ("nemo:", "huge.jsonl.gz:1: a line over 1048576 characters"),
        pytest.param("lhotse:", "huge.jsonl.gz:1: a line over 1048576 characters", marks=pytest.mark.full),
    ],
)
def test_a_huge_first_line_is_refused_without_reading_it_all(huge, prefix, message):
    start = time.perf_counter()
    with pytest.raises(SpeechlabError, match=message):
        load_manifest(f"{prefix}{huge}")
    assert time.perf_counter() - start < 2  # a MiB or two decompressed, not 1024


def test_a_kaldi_file_without_line_breaks_is_refused_at_its_bound(corpus, tmp_path):
    folder = _copy(corpus, "kaldi", tmp_path)
    (folder / "text").write_text("cards_001 " + "ten " * 2**19)
    with pytest.raises(SpeechlabError, match=rf"^{folder}/text:1: a line over 1048576 characters$"):
        load_manifest(folder)


def test_the_audio_root_option_reaches_the_manifest_and_a_promotion_may_not_set_it(project):
    (project.path / "elsewhere").mkdir()
    shutil.copy(project.path / "data" / "audio" / "cards_001.wav", project.path / "elsewhere" / "x.wav")
    project.write_manifest([{**project.cases[0], "audio": "../elsewhere/x.wav"}, *project.cases[1:]])
    refused = project.run("--co")
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(["ERROR: *audio path '../elsewhere/x.wav' leaves the manifest folder"])
    allowed = project.run("--co", f"--speech-audio-root={project.path}")
    assert allowed.ret == pytest.ExitCode.OK
    promotion = project.run("--promote-to=candidate", f"--speech-audio-root={project.path}")
    assert promotion.ret == pytest.ExitCode.USAGE_ERROR
    promotion.stderr.fnmatch_lines(
        ["ERROR: --promote-to: --speech-audio-root may not be given with a promotion*"]
    )


def test_a_nemo_manifest_reaching_out_is_a_usage_error_until_pyproject_names_the_root(project):
    (project.path / "elsewhere").mkdir()
    shutil.copy(project.path / "data" / "audio" / "cards_001.wav", project.path / "elsewhere" / "x.wav")
    (project.path / "data" / "m.jsonl").write_text(nemo_line("../elsewhere/x.wav", duration=1.1))
    refused = project.run("--co", "--speech-manifest=data/m.jsonl")
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(
        ["ERROR: */data/m.jsonl:1: case 'x': audio path '../elsewhere/x.wav' leaves the manifest folder"]
    )
    pyproject = project.path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('device = "cpu"', 'device = "cpu"\naudio_root = "."'))
    allowed = project.run("--co", "--speech-manifest=data/m.jsonl")  # "." is pyproject's folder
    assert allowed.ret == pytest.ExitCode.OK, allowed.stdout.str()[-2000:] + allowed.stderr.str()

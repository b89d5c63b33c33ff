"""``speechlab manifest convert`` writes YAML that loads back to the same cases, from every
format; ``speechlab manifest build`` makes a manifest from a folder of audio and transcripts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from pytest_speechlab.cli import main
from pytest_speechlab.errors import SpeechlabError
from pytest_speechlab.io.audio import case_audio
from pytest_speechlab.io.manifest import load_manifest, sha256_file

from ..projects import REPO, short_cases
from .test_formats import FORMATS, described, needs, write_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.mark.parametrize("fmt", FORMATS)
def test_convert_round_trip(corpus, fmt, capsys):
    needs(corpus, fmt)
    out = Path(corpus["yaml"]).parent / f"converted_{fmt}.yaml"
    assert main(["manifest", "convert", corpus[fmt], str(out), "--audio-dir", f"audio_{fmt}"]) == 0
    assert f"to {out}" in capsys.readouterr().out
    source = {c.id: c for c in load_manifest(corpus[fmt]).cases}
    converted = load_manifest(out).cases
    assert [c.id for c in converted] == list(source)
    for case in converted:
        original = source[case.id]
        assert described(case) == described(original)
        assert (case.offset_s, case.embedded) == (original.offset_s, None)
        np.testing.assert_array_equal(case_audio(case, 16000), case_audio(original, 16000))
    entries = yaml.safe_load(out.read_text())["cases"]
    assert all(not e["audio"].startswith(("/", "..")) for e in entries)
    if fmt.startswith("hf"):  # embedded audio written out as it was stored, beside the YAML
        assert {e["audio"] for e in entries} == {f"audio_{fmt}/{c}.wav" for c in source}


def test_convert_keeps_the_reference_alignment(tmp_path, capsys):
    shutil.copy(REPO / "data" / "audio" / "praatio_mary.wav", tmp_path / "mary.wav")
    shutil.copy(REPO / "data" / "alignments" / "praatio_mary.TextGrid", tmp_path / "mary.TextGrid")
    case = {"id": "mary", "audio": "mary.wav", "text": "mary rolled the barrel", "alignment": "mary.TextGrid"}
    (tmp_path / "in.yaml").write_text(yaml.safe_dump({"cases": [case]}))
    assert main(["manifest", "convert", str(tmp_path / "in.yaml"), str(tmp_path / "out.yaml")]) == 0
    assert yaml.safe_load((tmp_path / "out.yaml").read_text())["cases"][0]["alignment"] == "mary.TextGrid"
    assert load_manifest(tmp_path / "out.yaml").cases[0].alignment == tmp_path / "mary.TextGrid"


def test_convert_refuses_audio_outside_the_output_folder(corpus, tmp_path, capsys):
    out = tmp_path / "elsewhere" / "manifest.yaml"
    assert main(["manifest", "convert", corpus["nemo"], str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("speechlab: error: ") and err.count("\n") == 1
    assert "leaves the manifest folder: write the manifest into a folder that holds all the audio" in err
    assert not out.exists()


def test_convert_keeps_an_existing_file_without_force(corpus, capsys):
    out = Path(corpus["yaml"])
    before = out.read_bytes()
    assert main(["manifest", "convert", corpus["nemo"], str(out)]) == 2
    assert "exists; pass --force to replace it" in capsys.readouterr().err
    assert out.read_bytes() == before


def _folder(tmp_path: Path) -> Path:
    """Bundled cases as a newcomer's folder: x.wav with x.txt, one x.lab, one in a subfolder."""
    folder = tmp_path / "recordings"
    (folder / "alice").mkdir(parents=True)
    cards, cards2, silence = short_cases()
    for case, target in ((cards, folder / "card one.wav"), (cards2, folder / "alice" / "002.wav")):
        shutil.copy(case.audio, target)
        target.with_suffix(".txt").write_text(case.text + "\n")
    shutil.copy(silence.audio, folder / "silence.wav")
    (folder / "silence.lab").write_text("")
    shutil.copy(REPO / "data" / "audio" / "jfk.wav", folder / "untranscribed.wav")
    return folder


def test_build_needs_a_transcript_for_every_file(tmp_path, capsys):
    folder = _folder(tmp_path)
    assert main(["manifest", "build", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"speechlab: error: {folder / 'untranscribed.wav'}: no transcript beside it (untranscribed.txt or "
        "untranscribed.lab); pass --skip-missing to leave such files out\n"
    )
    assert not (folder / "manifest.yaml").exists()


def test_build_writes_a_manifest_that_loads(tmp_path, capsys):
    folder = _folder(tmp_path)
    assert main(["manifest", "build", str(folder), "--skip-missing"]) == 0
    out = capsys.readouterr().out
    assert "wrote 3 cases (6.1 s of audio)" in out and "skipped 1 audio file(s) without a transcript" in out
    cases = {c.id: c for c in load_manifest(folder / "manifest.yaml").cases}
    assert sorted(cases) == ["alice_002", "card_one", "silence"]
    cards, cards2, _ = short_cases()
    assert cases["card_one"].text == cards.text and cases["alice_002"].text == cards2.text
    assert cases["silence"].tags == ("dur_lt5s", "nonspeech") and cases["silence"].text == ""
    assert cases["card_one"].sha256 == sha256_file(cards.audio)
    entries = {e["id"]: e for e in yaml.safe_load((folder / "manifest.yaml").read_text())["cases"]}
    assert entries["alice_002"]["audio"] == "alice/002.wav" and entries["alice_002"]["sample_rate"] == 16000
    written = (folder / "manifest.yaml").read_bytes()
    capsys.readouterr()
    assert main(["manifest", "build", str(folder), "--skip-missing"]) == 0  # brought up to date, not replaced
    assert "is up to date (3 cases)" in capsys.readouterr().out
    assert (folder / "manifest.yaml").read_bytes() == written
    assert main(["manifest", "build", str(folder)]) == 2  # the untranscribed file: still said
    assert (
        main(["manifest", "build", str(folder), "--skip-missing", "--force", "-o", str(folder / "m.yaml")])
        == 0
    )
    assert load_manifest(folder / "m.yaml").cases == load_manifest(folder / "manifest.yaml").cases
    manifest = folder / "manifest.yaml"  # a case of it written by hand: no transcript needed then
    manifest.write_text(manifest.read_text() + "- {id: jfk, audio: untranscribed.wav, text: ask not}\n")
    capsys.readouterr()
    assert main(["manifest", "build", str(folder)]) == 0
    assert "is up to date (4 cases)" in capsys.readouterr().out


def _reaching_out(tmp_path: Path) -> Path:
    """A NeMo manifest in ``tmp_path/data`` with one case beside it and one in ``tmp_path/elsewhere``."""
    cards = short_cases()[0]
    for name in ("data", "elsewhere"):
        (tmp_path / name).mkdir()
        shutil.copy(cards.audio, tmp_path / name / f"{name}.wav")
    path = tmp_path / "data" / "m.jsonl"
    lines = [
        {"audio_filepath": a, "text": cards.text, "duration": 1.0}
        for a in ("data.wav", "../elsewhere/elsewhere.wav")
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_convert_reads_a_source_reaching_out_only_with_an_audio_root(tmp_path, capsys):
    """The audit: convert read a NeMo manifest's ../ paths and wrote a manifest of them."""
    source, out = _reaching_out(tmp_path), tmp_path / "out.yaml"
    assert main(["manifest", "convert", str(source), str(out)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"speechlab: error: {source}:2: case 'elsewhere': audio path '../elsewhere/elsewhere.wav' "
        "leaves the manifest folder\n"
    )
    assert not out.exists()
    assert main(["manifest", "convert", str(source), str(out), "--audio-root", str(tmp_path)]) == 0
    assert [e["audio"] for e in yaml.safe_load(out.read_text())["cases"]] == [
        "data/data.wav",
        "elsewhere/elsewhere.wav",
    ]
    assert "--speech-audio-root" not in capsys.readouterr().out  # it needs none: its folder holds both
    assert len(load_manifest(out).cases) == 2


def test_convert_and_build_write_paths_out_of_their_folder_only_when_told(tmp_path, capsys):
    source = _reaching_out(tmp_path)
    out = tmp_path / "data" / "out.yaml"
    args = ["manifest", "convert", str(source), str(out)]
    assert main([*args, "--audio-root", str(tmp_path / "data")]) == 2  # the root must hold the source's
    assert capsys.readouterr().err.endswith("leaves the audio root " + str(tmp_path / "data") + "\n")
    assert main([*args, "--audio-root", str(tmp_path)]) == 0
    assert f"run it with --speech-audio-root={tmp_path}" in capsys.readouterr().out
    entries = yaml.safe_load(out.read_text())["cases"]
    assert [e["audio"] for e in entries] == ["data.wav", "../elsewhere/elsewhere.wav"]
    with pytest.raises(SpeechlabError, match="leaves the manifest folder"):
        load_manifest(out)
    assert len(load_manifest(out, audio_root=tmp_path).cases) == 2

    folder = _folder(tmp_path)
    other = tmp_path / "manifests" / "m.yaml"
    other.parent.mkdir()
    build = ["manifest", "build", str(folder), "--skip-missing", "-o", str(other)]
    assert main(build) == 2
    err = capsys.readouterr().err
    assert "leaves the manifest folder: write the manifest into a folder that holds all the audio" in err
    assert err.count("\n") == 1 and not other.exists()
    assert main([*build, "--audio-root", str(tmp_path)]) == 0
    assert f"run it with --speech-audio-root={tmp_path}" in capsys.readouterr().out
    assert {c.id for c in load_manifest(other, audio_root=tmp_path).cases} == {
        "card_one",
        "alice_002",
        "silence",
    }


def test_build_refuses_a_link_that_leads_out_of_the_folder(tmp_path, capsys):
    folder = _folder(tmp_path)
    (tmp_path / "elsewhere.wav").write_bytes((folder / "card one.wav").read_bytes())
    (folder / "linked.wav").symlink_to(tmp_path / "elsewhere.wav")
    (folder / "linked.txt").write_text("ten of clubs\n")
    assert main(["manifest", "build", str(folder), "--skip-missing"]) == 2
    err = capsys.readouterr().err
    assert f"{folder}: audio path 'linked.wav' (a link to {tmp_path}/elsewhere.wav) leaves" in err
    assert not (folder / "manifest.yaml").exists()

"""Bad input stops the run with one clear line and a usage-error exit code, and loses nothing."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import soundfile

from ..projects import Project

USAGE = pytest.ExitCode.USAGE_ERROR


def usage_error(project, *lines: str, args: tuple[str, ...] = ()) -> None:
    result = project.run(*args)
    assert result.ret == USAGE, result.stdout.str() + result.stderr.str()
    result.stderr.fnmatch_lines([f"ERROR: {line}" for line in lines])


def test_unknown_model_lists_known_ones(project):
    result = project.run(model="nosuchmodel")
    assert result.ret == USAGE
    result.stderr.fnmatch_lines(
        ["ERROR: --speech-model: unknown model 'nosuchmodel' (known: *faster_whisper*)"]
    )


def test_missing_audio(project):
    (project.path / "data" / project.cases[0]["audio"]).unlink()
    usage_error(project, f"*manifest.yaml:*: case '{project.cases[0]['id']}': audio file *not found")


def test_corrupt_wav(project):
    (project.path / "data" / project.cases[0]["audio"]).write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunk")
    usage_error(project, f"*manifest.yaml:*: case '{project.cases[0]['id']}': * is not readable audio (*)")


def test_truncated_wav_body_is_a_clear_test_error(project):
    """A header that parses but data that does not decode fails that case, naming the file."""
    path = project.path / "data" / project.cases[0]["audio"]
    header = path.read_bytes()[:44]
    path.write_bytes(header)  # header says there are frames; there are none
    result = project.run("--speech-new-cases=pass")
    assert result.ret in (USAGE, pytest.ExitCode.TESTS_FAILED)
    assert str(path.name) in result.stdout.str() + result.stderr.str()


def test_wrong_sample_rate(project):
    project.cases[0]["sample_rate"] = 44100
    project.write_manifest()
    usage_error(project, "*manifest.yaml:*: * has sample rate * Hz, manifest says 44100")


def test_sample_rate_that_is_not_a_number(project):
    project.cases[0]["sample_rate"] = "16k"
    project.write_manifest()
    usage_error(
        project, "*manifest.yaml:*: case 'cards_001': sample_rate must be a whole number of Hz, got '16k'"
    )


def test_sample_rate_below_telephone_band(project):
    soundfile.write(project.path / "data" / "audio" / "low.wav", np.zeros(4000, dtype=np.float32), 4000)
    project.write_manifest([*project.cases, {"id": "low", "audio": "audio/low.wav", "text": "x"}])
    usage_error(project, "*: case 'low': * has sample rate 4000 Hz, below 8000 Hz")


def test_invalid_yaml_names_the_line(project):
    project.manifest.write_text("cases:\n  - id: a\n    audio: [unclosed\n")
    usage_error(project, "*manifest.yaml:*: not valid YAML (*)")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"text": None}, "case '{id}' has no 'text'"),
        ({"text": "  "}, "case '{id}': empty reference text (allowed only with tag 'nonspeech')"),
        (
            {"audio": "../../outside.wav"},
            "case '{id}': audio path '../../outside.wav' leaves the manifest folder",
        ),
        ({"sha256": "0" * 64}, "case '{id}': * does not match its sha256"),
        ({"alignment": "alignments/none.TextGrid"}, "case '{id}': alignment file *none.TextGrid not found"),
        (
            {"alignment": "../../outside.TextGrid"},
            "case '{id}': alignment path '../../outside.TextGrid' leaves the manifest folder",
        ),
        ({"speeker": "x"}, "unknown field(s) speeker"),
        ({"id": "bad id"}, "case id 'bad id' must match *"),
        ({"tags": "human"}, "case '{id}': tags must be a list of identifiers"),
    ],
)
def test_bad_manifest_entries(project, change, message):
    entry = dict(project.cases[0])
    for key, value in change.items():
        if value is None:
            entry.pop(key)
        else:
            entry[key] = value
    project.write_manifest([entry, *project.cases[1:]])
    usage_error(project, "*manifest.yaml:2: " + message.format(id=project.cases[0]["id"]))


def test_duplicate_ids(project):
    project.write_manifest([*project.cases, dict(project.cases[0])])
    usage_error(project, f"*manifest.yaml:*: duplicate case id '{project.cases[0]['id']}' (first at line 2)")


def test_not_a_manifest(project):
    project.manifest.write_text("- just a list\n")
    usage_error(project, "*manifest.yaml: expected a mapping with a 'cases' list")


def test_manifest_not_found(project):
    usage_error(project, "*nowhere.yaml: manifest not found", args=("--speech-manifest=nowhere.yaml",))


def test_malformed_baseline_is_an_error_and_is_left_alone(project):
    project.baseline.parent.mkdir(parents=True)
    project.baseline.write_text('{"schema": 1, "cases": {"a": {"wer": 0.1,}}}')
    before = project.baseline.read_bytes()
    usage_error(project, "*cpu.json:1:*: not valid JSON (*)", args=("--update-baselines",))
    assert project.baseline.read_bytes() == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"schema": 1, "cases": {"a": {"wer": "low"}}}', "cases.a.wer must be a number >= 0, got 'low'"),
        ('{"schema": 1, "cases": []}', "'cases' must be an object of case id to metrics"),
        ('{"schema": 7, "cases": {}}', "unsupported baseline schema 7 (expected 1)"),
    ],
)
def test_baseline_schema_errors(project, content, message):
    project.baseline.parent.mkdir(parents=True)
    project.baseline.write_text(content)
    usage_error(project, f"*cpu.json: {message}")


def test_bad_options(project):
    usage_error(
        project,
        "--speech-option: expected MODEL.KEY=VALUE, got 'beam_size'",
        args=("--speech-option=beam_size=1",),
    )
    result = project.run("--speech-option=faster_whisper.beam=1")
    assert result.ret == USAGE
    known = "batch_size, beam_size, *"
    result.stderr.fnmatch_lines([f"ERROR: faster_whisper: unknown option(s) beam (known: {known})"])
    usage_error(
        project,
        "--speech-device: unknown device 'tpu' (use auto, cpu, cuda, mps)",
        args=("--speech-device=tpu",),
    )


def test_update_without_model(project):
    result = project.run("--update-baselines", model=None)
    assert result.ret == USAGE
    result.stderr.fnmatch_lines(["ERROR: --update-baselines: name the model(s) with --speech-model"])


def test_interrupted_update_leaves_the_old_baseline(project, recorded):
    recorded(project)
    data = project.read_baseline()
    data["cases"]["silence_3s"]["wer"] = 0.5  # so that the update has something to write
    project.write_baseline(data)
    before = project.baseline.read_bytes()
    project.pytester.makeconftest(
        """
        import os
        import pytest_speechlab.store.atomic as storage

        def interrupted(src, dst):
            raise KeyboardInterrupt("power cut during rename")

        storage.os.replace = interrupted
        """
    )
    # the non-speech case alone: one transcription, and the whole file rewritten all the same
    result = project.run("--update-baselines", "--speech-tags=nonspeech", subprocess=True)
    assert result.ret != 0
    assert "power cut during rename" in result.stdout.str() + result.stderr.str()
    assert project.baseline.read_bytes() == before
    leftovers = [p.name for p in project.baseline.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    assert hashlib.sha256(before).hexdigest() == hashlib.sha256(project.baseline.read_bytes()).hexdigest()


def test_a_model_that_cannot_load_errors_one_test_in_one_line_and_skips_the_rest(project):
    missing = project.path / "no-such-model"
    result = project.run(f"--speech-source=faster_whisper={missing}", "-k", "test_wer", "-rs")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    options = "with compute_type='int8'"  # the throwaway project's (tests/projects.py)
    message = f"cannot load faster_whisper on cpu {options}: model source {missing}: no such file or folder"
    out = result.stdout.str()
    assert "Traceback" not in out and "SpeechlabError" not in out
    outcomes = result.parseoutcomes()
    assert (outcomes["errors"], outcomes["skipped"]) == (1, len(project.cases) - 1)
    result.stdout.fnmatch_lines(["*ERROR at setup of test_wer*", message, f"SKIPPED [[]2[]] *: {message}"])
    assert out.count("ERROR at setup") == 1


def test_a_bad_option_value_is_one_line_with_the_engines_own_message_once(project):
    """The option's value is not the plugin's to check (CTranslate2 decides which compute types
    there are): the engine's own message, once, and every other test skipped with it, not a
    traceback per test (27 of them, 3,151 lines, before)."""
    result = project.run("--speech-option=faster_whisper.compute_type=int9")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    message = (
        "cannot load faster_whisper on cpu with compute_type='int9': ValueError: Invalid compute type: int9"
    )
    assert out.count("ERROR at setup") == 1 and "Traceback" not in out and len(out.splitlines()) < 30
    result.stdout.fnmatch_lines(["*ERROR at setup of test_wer*", message, f"SKIPPED [[]*[]] *: {message}"])
    outcomes = result.parseoutcomes()
    assert outcomes["errors"] == 1 and outcomes["skipped"] >= len(project.cases) and "passed" not in outcomes


@pytest.mark.parametrize("flag", ["--speech-wer-tolerance=nan", "--speech-latency-tolerance=inf"])
def test_a_non_finite_tolerance_on_the_command_line_is_a_usage_error(project: Project, flag: str):
    result = project.run(flag)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    name = flag.split("=")[0]
    result.stderr.fnmatch_lines([f"ERROR: {name}/*: expected a finite number >= 0, got *"])


def test_a_non_finite_tolerance_in_pyproject_is_a_usage_error(project: Project):
    pyproject = project.path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("latency_tolerance = 3.0", "latency_tolerance = nan"))
    result = project.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    key = "[[]tool.speechlab[]].latency_tolerance"
    result.stderr.fnmatch_lines([f"ERROR: {pyproject}: {key} is nan: only finite numbers are allowed"])

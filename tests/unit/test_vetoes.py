"""The built-in promotion vetoes as a pure function of the run's results: each reason staged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_speechlab.core.case import Case
from pytest_speechlab.gate.promotion import (
    SELECTION_OPTIONS,
    WHOLE,
    Evidence,
    builtin_vetoes,
    cost_figures,
    not_run,
    selection_refusals,
    since_last_promotion,
    tree_refusals,
)
from pytest_speechlab.gate.records import CaseRecord, RunRecord
from pytest_speechlab.store.registry import Entry

CASES = (
    Case(id="a", audio=Path("a.wav"), text="hello world"),
    Case(id="b", audio=Path("b.wav"), text="good morning"),
    Case(id="quiet", audio=Path("q.wav"), text="", tags=("nonspeech",)),
)


def case(data: dict[str, Any]) -> CaseRecord:
    """A case record with only the figures a test stages (the texts and scores left empty)."""
    return CaseRecord.from_json(
        {"id": "a", "reference": "", "hypothesis": "", "wer": 0.0, "cer": 0.0, **data}
    )


def run(**changes: Any) -> RunRecord:
    """The record of a passing run on every case, as the results file keeps it."""
    data: dict[str, Any] = {
        "model": "m",
        "device": "cpu",
        "skipped": None,
        "verdict": {"overall": "pass", "failures": [], "identity_differences": []},
        "corpus": {"wer": 0.1, "cer": 0.05, "rtf": 0.2, "hallucination_rate": 0.0},
        "cases": [{"id": c.id, "latency_ms": {"median": 10.0, "runs": 1}} for c in CASES],
        "tts_cases": [],
    }
    data.update(changes)
    if data["corpus"]:
        data["corpus"] = {"cases": len(data["cases"]), "audio_s": 10.0, "latency_s": 2.0, **data["corpus"]}
    data["cases"] = [case(c).to_json() for c in data["cases"]]
    data["tts_cases"] = [{"text": "", **t} for t in data["tts_cases"]]
    return RunRecord.from_json(data)


def evidence(
    *runs: RunRecord, target: str = "candidate", entry: Entry | None = None, **extra: Any
) -> Evidence:
    return Evidence("m", target, entry or Entry("m"), list(runs), CASES, **extra)


def test_a_clean_run_is_not_vetoed():
    assert builtin_vetoes(evidence(run()), ("asr",)) == []


@pytest.mark.parametrize(
    ("staged", "reason"),
    [
        ({"failed_tests": ["t1", "t2"]}, "2 test(s) failed: t1, t2"),
        ({"exitstatus": 2}, "the run ended with exit status 2"),
        ({"deselected": 3}, "3 test(s) deselected (-k/-m): a promotion runs the whole suite"),
        ({"not_run": ["t1", "t2", "t3", "t4"]}, "4 collected test(s) did not run: t1, t2, t3, ..."),
        ({"not_run": ["t9"]}, "1 collected test(s) did not run: t9"),
    ],
)
def test_the_session_itself_can_veto(staged, reason):
    assert builtin_vetoes(evidence(run(), **staged), ("asr",)) == [reason]


def test_no_run_and_a_skipped_run_are_vetoed():
    assert builtin_vetoes(evidence(), ("asr",)) == ["no run of the model"]
    skipped = builtin_vetoes(evidence(run(skipped="no GPU")), ("asr",))
    assert skipped == ["m on cpu was skipped: no GPU"]


@pytest.mark.parametrize("overall", ["FAIL", "ERROR", "re-record", "new", "INCOMPLETE"])
def test_any_verdict_but_pass_is_vetoed_with_its_lines(overall):
    verdict = {"overall": overall, "failures": ["a: WER 0.5 exceeds limit 0.12"], "identity_differences": []}
    reasons = builtin_vetoes(evidence(run(verdict=verdict)), ("asr",))
    assert reasons == [
        f"m on cpu: the gate's verdict is {overall}",
        "m on cpu: a: WER 0.5 exceeds limit 0.12",
    ]


def test_inconclusive_asks_for_cpu_times_in_the_baseline():
    verdict = {"overall": "inconclusive", "failures": [], "identity_differences": []}
    reasons = builtin_vetoes(evidence(run(verdict=verdict)), ("asr",))
    assert reasons == [
        "m on cpu: the gate's verdict is inconclusive (the baseline has no CPU times to judge a loaded "
        "wall time by: re-record it (--update-baselines) on a quiet machine, or re-run where no other "
        "process competes)"
    ]


def test_baselines_of_another_model_are_vetoed():
    verdict = {
        "overall": "pass",
        "failures": [],
        "identity_differences": ["compute_type: 'a' in the baseline"],
    }
    reasons = builtin_vetoes(evidence(run(verdict=verdict)), ("asr",))
    assert reasons == [
        "m on cpu: the baselines were recorded under another model: compute_type: 'a' in the baseline"
    ]


def test_results_must_cover_the_manifest():
    partial = run(cases=[{"id": "a", "latency_ms": {"median": 1.0}}])
    reasons = builtin_vetoes(evidence(partial), ("asr",))
    assert reasons == ["m on cpu: speech-to-text results cover 1 of 3 manifest cases (missing b, quiet)"]
    spoken = builtin_vetoes(evidence(run(tts_cases=[{"id": "a", "rtf": 0.1}])), ("tts",))
    assert spoken == ["m on cpu: text-to-speech results cover 1 of 2 manifest texts (missing b)"]


@pytest.mark.parametrize(
    ("metric", "limit", "value", "vetoed"),
    [("wer", 0.05, 0.1, True), ("wer", 0.1, 0.1, False), ("hallucination_rate", 0.0, 0.5, True)],
)
def test_ceilings_of_the_target_status(metric, limit, value, vetoed):
    entry = Entry("m", thresholds={"ceilings": {"production": {metric: limit}}})
    corpus = {"wer": 0.1, "cer": 0.05, "rtf": 0.2, metric: value}
    reasons = builtin_vetoes(evidence(run(corpus=corpus), target="production", entry=entry), ("asr",))
    expected = [f"m on cpu: corpus {metric.upper()} {value:.4f} above the production ceiling {limit:g}"]
    assert reasons == (expected if vetoed else [])
    # a ceiling for another status does not apply
    assert builtin_vetoes(evidence(run(corpus=corpus), target="candidate", entry=entry), ("asr",)) == []


def test_a_ceiling_with_no_figure_is_vetoed():
    entry = Entry("m", thresholds={"ceilings": {"candidate": {"hallucination_rate": 0.1}}})
    corpus = {"wer": 0.1, "cer": 0.05, "rtf": 0.2, "hallucination_rate": None}
    reasons = builtin_vetoes(evidence(run(corpus=corpus), entry=entry), ("asr",))
    assert reasons == ["m on cpu: no corpus hallucination_rate measured for the candidate ceiling"]


def test_many_failed_tests_are_counted_and_three_named():
    failed = ["t1", "t2", "t3", "t4"]
    assert builtin_vetoes(evidence(run(), failed_tests=failed), ("asr",)) == [
        "4 test(s) failed: t1, t2, t3, ..."
    ]
    assert builtin_vetoes(evidence(run(), failed_tests=failed[:3]), ("asr",)) == [
        "3 test(s) failed: t1, t2, t3"
    ]


def test_every_run_is_read_after_a_skipped_one_and_ten_failure_lines_at_most():
    failures = [f"c{i}: WER 0.5 exceeds limit 0.12" for i in range(12)]
    verdict = {"overall": "FAIL", "failures": failures, "identity_differences": []}
    reasons = builtin_vetoes(evidence(run(skipped="no GPU", device="cuda"), run(verdict=verdict)), ("asr",))
    assert reasons == [
        "m on cuda was skipped: no GPU",
        "m on cpu: the gate's verdict is FAIL",
        *[f"m on cpu: {line}" for line in failures[:10]],
    ]


def test_missing_cases_are_counted_and_five_named():
    cases = tuple(Case(id=f"c{i}", audio=Path(f"c{i}.wav"), text=f"text {i}") for i in range(7))
    measured = [{"id": "c0", "latency_ms": {"median": 1.0}}]
    six = Evidence("m", "candidate", Entry("m"), [run(cases=measured)], cases)
    assert builtin_vetoes(six, ("asr",)) == [
        "m on cpu: speech-to-text results cover 1 of 7 manifest cases (missing c1, c2, c3, c4, c5, ...)"
    ]
    exactly = Evidence("m", "candidate", Entry("m"), [run(cases=[{"id": "c6", "latency_ms": {}}])], cases[1:])
    assert builtin_vetoes(exactly, ("asr",)) == [
        "m on cpu: speech-to-text results cover 1 of 6 manifest cases (missing c1, c2, c3, c4, c5)"
    ]
    spoken = Evidence("m", "candidate", Entry("m"), [run(tts_cases=[{"id": "c0", "rtf": 0.1}])], cases)
    assert builtin_vetoes(spoken, ("tts",)) == [
        "m on cpu: text-to-speech results cover 1 of 7 manifest texts (missing c1, c2, c3, c4, c5, ...)"
    ]
    spoken_five = Evidence(
        "m", "candidate", Entry("m"), [run(tts_cases=[{"id": "c6", "rtf": 0.1}])], cases[1:]
    )
    assert builtin_vetoes(spoken_five, ("tts",)) == [
        "m on cpu: text-to-speech results cover 1 of 6 manifest texts (missing c1, c2, c3, c4, c5)"
    ]


def test_the_history_entry_carries_the_headline_figures_of_each_device():
    cases = [
        {"id": "a", "latency_ms": {"median": 10.06, "runs": 2}},
        {"id": "b", "latency_ms": {"median": 20.0, "runs": 5}},
        {"id": "quiet", "latency_ms": {"median": 99.0, "runs": 1}},
        {"id": "x", "latency_ms": {"median": 99.0}},  # one run: not part of the latency subset
    ]
    corpus = {"wer": 0.123456, "cer": 0.054321, "rtf": 0.200049, "hallucination_rate": 1.0}
    cpu = run(corpus=corpus, cases=cases, tts_cases=[{"id": "a", "rtf": 0.12345}, {"id": "b", "rtf": 0.2}])
    cuda = run(device="cuda", corpus=None, cases=cases[2:])
    assert evidence(cpu, cuda).metrics() == {
        "cpu": {
            "corpus_wer": 0.1235,
            "corpus_cer": 0.0543,
            "corpus_rtf": 0.2,
            "latency_subset_median_ms": 30.1,
            "retimed": 0,
            "wall_judged_by_cpu": 0,
            "tts_cases": 2,
            "tts_rtf": 0.1617,
            "cases": 4,
        },
        "cuda": {"cases": 2},
    }
    assert evidence().metrics() == {}


# --- choosing the tests, and what judges them ------------------------------------------------


SUITE = ["suites"]  # the configured testpaths, relative to the project


def test_a_promotion_refuses_test_paths_and_every_option_that_chooses_tests():
    assert selection_refusals(SUITE, SUITE, {}) == []
    assert selection_refusals(["."], ["."], {}) == []  # no testpaths: the root folder, run from there
    assert selection_refusals(SUITE, SUITE, {dest: None for dest in SELECTION_OPTIONS}) == []
    defaults = {"maxfail": 0, "keyword": "", "lf": False, "ignore": []}
    assert selection_refusals(SUITE, SUITE, defaults) == []
    assert selection_refusals(["suites/test_asr.py::test_wer"], SUITE, {}) == [
        "tests chosen (suites/test_asr.py::test_wer, not the configured suites): "
        "a promotion runs the configured suite whole"
    ]
    # run from a sub-folder, pytest collects only there and ignores testpaths
    assert selection_refusals(["suites/accuracy"], SUITE, {}) == [
        "tests chosen (suites/accuracy, not the configured suites): "
        "a promotion runs the configured suite whole"
    ]
    assert selection_refusals(["suites", "suites/x.py"], SUITE, {}) != []  # a file twice is not the suite
    assert selection_refusals(["b", "a"], ["a", "b"], {}) == []  # the order is pytest's
    many = selection_refusals(["a", "b", "c", "d"], ["s", "t"], {})
    assert many == [
        "tests chosen (a b c ..., not the configured s t): a promotion runs the configured suite whole"
    ]
    for dest, flag in SELECTION_OPTIONS.items():
        value: object = (
            ["x"] if dest in ("ignore", "ignore_glob", "deselect") else 1 if dest == "maxfail" else True
        )
        assert selection_refusals(SUITE, SUITE, {dest: value}) == [
            f"{flag} given: a promotion runs the configured suite whole"
        ]
    wanted = {"keyword", "markexpr", "deselect", "ignore", "ignore_glob", "lf", "failedfirst", "stepwise"}
    assert set(SELECTION_OPTIONS) >= wanted | {"maxfail", "collectonly", "noconftest", "rootdir"}


def test_a_promotion_refuses_ini_overrides_that_choose_tests():
    """``-o python_functions=test_wer`` collects one test of the suite; ``-o testpaths=...`` another
    suite. Only overrides of how the run reports are allowed."""
    for item in ("python_functions=test_wer", "testpaths=suites/test_asr.py", "python_files=x.py",
                 "norecursedirs=suites", "addopts=-k wer", " python_classes = X", "markers=x"):  # fmt: skip
        key = item.split("=")[0].strip()
        assert selection_refusals(SUITE, SUITE, {}, [item]) == [
            f"-o {key} given: a promotion runs the configured suite whole"
        ]
    harmless = ["cache_dir=/tmp/c", "console_output_style=classic", "log_cli=true", "junit_family=xunit2",
                "verbosity_assertions=2", "tmp_path_retention_policy=none"]  # fmt: skip
    assert selection_refusals(SUITE, SUITE, {}, harmless) == []
    assert len(selection_refusals(SUITE, SUITE, {"keyword": "x"}, ["testpaths=a"])) == 2
    # the option first: --rootdir=x also makes pytest collect elsewhere
    assert selection_refusals(["x"], SUITE, {"rootdir": "x"})[0] == f"--rootdir given: {WHOLE}"


def test_a_promotion_refuses_uncommitted_gate_files_tracked_or_not_and_an_unverifiable_tree():
    assert tree_refusals([]) == []
    assert tree_refusals(["?? baselines/faster_whisper/cuda.json"]) == [
        "1 uncommitted change(s) to what judges the run (baselines/faster_whisper/cuda.json): "
        "commit them first"
    ]
    lines = [" M baselines/a.json", " M pyproject.toml", "?? data/x.wav", "A  registry.yaml", " D data/y.wav"]
    assert tree_refusals(lines) == [
        "5 uncommitted change(s) to what judges the run (baselines/a.json, pyproject.toml, data/x.wav, "
        "registry.yaml, ...): commit them first"
    ]
    assert tree_refusals(None) == [
        "not a git repository: the baselines, manifest and thresholds cannot be verified as committed"
    ]


def test_an_ignored_file_counts_only_where_the_run_uses_it():
    """A baseline hidden by .gitignore (or .git/info/exclude) is used but never committed; an
    ignored cache beside the suite is not used."""
    lines = ["!! suites/__pycache__/test_asr.cpython-312.pyc", "!! baselines/m/cpu.json", "!! data/notes.txt"]
    assert tree_refusals(lines, used={"baselines/m/cpu.json", "data/manifest.yaml"}) == [
        "1 uncommitted change(s) to what judges the run (baselines/m/cpu.json): commit them first"
    ]
    assert tree_refusals(lines[:1]) == []
    assert tree_refusals(lines, used=set()) == []


def test_python_bytecode_beside_the_suite_is_never_a_change_that_judges_the_run():
    """Untracked too: an xdist worker compiles the suite while another checks the tree."""
    lines = ["?? suites/__pycache__/test_asr.cpython-312-pytest-9.2.0.pyc", "?? suites/test_asr.py"]
    assert tree_refusals(lines) == [
        "1 uncommitted change(s) to what judges the run (suites/test_asr.py): commit them first"
    ]


def test_gate_files_outside_the_repository_are_refused():
    assert tree_refusals([], outside=["/elsewhere/baselines"]) == [
        "outside the git repository, so never verified as committed: /elsewhere/baselines"
    ]
    both = tree_refusals(["?? baselines/a.json"], outside=["/x/registry.yaml", "/y/pyproject.toml"])
    assert both == [
        "1 uncommitted change(s) to what judges the run (baselines/a.json): commit them first",
        "outside the git repository, so never verified as committed: /x/registry.yaml, /y/pyproject.toml",
    ]
    assert tree_refusals(None, outside=["/x"]) == tree_refusals(None)


def test_every_collected_test_must_report():
    assert not_run(["a", "b", "c"], {"a", "b", "c", "z"}) == []
    assert not_run(["a", "b", "c"], {"b"}) == ["a", "c"]
    assert not_run(["a", "a", "b"], set()) == ["a", "b"]  # collected twice (--keep-duplicates), named once


# --- cost figures in the evidence, and what moved since the last promotion ---------------------


def test_the_evidence_records_the_cost_and_the_conditions_of_the_timings():
    wall = {"metric": "fastest latency ms", "outcome": "pass", "within": False, "line": ""}
    cpu = {"metric": "fastest CPU ms", "outcome": "pass", "within": True, "line": ""}
    timed = [
        case(
            {
                "latency_ms": {"cpu_min": 700.04, "others_cpu": 0.85, "retimed": 0},
                "verdict": "pass",
                "outcomes": [wall, cpu],
            }
        ),
        case(
            {
                "latency_ms": {"cpu_min": 300.0, "others_cpu": 0.2, "retimed": 2},
                "verdict": "pass",
                "outcomes": [{**wall, "within": True}],
            }
        ),
    ]
    assert all(c.part is not None for c in timed)  # its checks read back
    assert cost_figures(timed) == {
        "latency_subset_cpu_ms": 1000.0,
        "others_cpu_max": 0.85,
        "retimed": 2,
        "wall_judged_by_cpu": 1,
    }
    # a case without CPU time (an old baseline's run): no total that would read low
    partial = cost_figures([*timed, case({"latency_ms": {"others_cpu": 0.0}})])
    assert "latency_subset_cpu_ms" not in partial and partial["others_cpu_max"] == 0.85


def test_figures_that_moved_since_the_last_promotion_are_said():
    """The audit: one model's evidence read 20,604 ms at one promotion and 1,106 ms at the next."""
    before = {"cpu": {"corpus_wer": 0.07, "latency_subset_median_ms": 1106.0, "latency_subset_cpu_ms": 900.0}}
    entry = Entry("m", history=[{"to": "experimental"}, {"to": "candidate", "when": "T1", "metrics": before}])
    tolerances = {"wer": 0.02, "cer": 0.02, "latency": 0.5}
    now = {"cpu": {"corpus_wer": 0.08, "latency_subset_median_ms": 20604.0, "latency_subset_cpu_ms": 950.0,
                   "others_cpu_max": 0.85}}  # fmt: skip
    assert since_last_promotion(entry, now, tolerances) == [
        "cpu: latency-subset median ms 1106 -> 20604 (x18.63) since the promotion of T1, beyond the "
        "tolerance 0.5; others took up to 85% of the CPU while it was timed"
    ]
    worse = {"cpu": {"corpus_wer": 0.1, "latency_subset_cpu_ms": 1800.0}}
    assert since_last_promotion(entry, worse, tolerances) == [
        "cpu: corpus WER 0.07 -> 0.1 (+0.0300) since the promotion of T1, beyond the tolerance 0.02",
        "cpu: latency-subset CPU ms 900 -> 1800 (x2.00) since the promotion of T1, beyond the tolerance 0.5",
    ]
    assert since_last_promotion(entry, {"cpu": before["cpu"]}, tolerances) == []
    assert since_last_promotion(entry, {"cuda": worse["cpu"]}, tolerances) == []  # another device
    assert since_last_promotion(Entry("m"), now, tolerances) == []  # a first promotion


def test_git_status_names_changes_untracked_renamed_and_ignored_files(tmp_path: Path):
    """What tree_refusals reads, from a real repository: paths relative to its top, one a line."""
    import subprocess

    from pytest_speechlab.io.provenance import git_status, git_toplevel

    assert git_toplevel(tmp_path) is None
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "b").mkdir()
    for name in ("b/a.json", "b/old.json", "b/kept.json"):
        (tmp_path / name).write_text("{}")
    subprocess.run([*git, "add", "-A"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "x"], cwd=tmp_path, check=True)
    assert git_toplevel(tmp_path / "b") == tmp_path.resolve()
    assert git_status(["b"], tmp_path) == []
    assert git_status([], tmp_path) == []
    (tmp_path / "b" / "a.json").write_text('{"wer": 0.41}')
    (tmp_path / "b" / "new file.json").write_text("{}")
    subprocess.run([*git, "mv", "b/old.json", "b/moved.json"], cwd=tmp_path, check=True)
    (tmp_path / ".git" / "info" / "exclude").write_text("*.hidden\n")
    (tmp_path / "b" / "c.hidden").write_text("{}")
    assert sorted(git_status(["b"], tmp_path) or []) == [
        " M b/a.json",
        "!! b/c.hidden",
        "?? b/new file.json",
        "R  b/moved.json",
    ]
    assert git_status(["b"], tmp_path / "nowhere") is None


def test_what_moved_since_the_last_promotion_is_judged_at_its_tolerance_and_said_plainly():
    before = {"cpu": {"corpus_wer": 0.07, "latency_subset_cpu_ms": 1000.0, "latency_subset_median_ms": 0.0}}
    entry = Entry("m", history=[{"to": "candidate", "metrics": before}])  # no "when" recorded
    tolerances = {"wer": 0.02, "latency": 0.5}
    at_the_tolerance = {"cpu": {"corpus_wer": 0.09, "latency_subset_cpu_ms": 1500.0}}
    assert since_last_promotion(entry, at_the_tolerance, tolerances) == []
    beyond = {"cpu": {"corpus_wer": 0.0901, "latency_subset_median_ms": 5.0, "others_cpu_max": 0.5}}
    assert since_last_promotion(entry, beyond, tolerances) == [
        "cpu: corpus WER 0.07 -> 0.0901 (+0.0201) since the promotion of ?, beyond the tolerance 0.02"
    ]  # no load note beside an accuracy figure, and a figure that was 0 before is not a ratio
    assert since_last_promotion(entry, {"cpu": {"corpus_cer": 0.5}}, {}) == []  # nothing before
    unknown = Entry("m", history=[{"to": "candidate", "metrics": {"cpu": {"corpus_cer": 0.1}}}])
    assert since_last_promotion(unknown, {"cpu": {"corpus_cer": 0.1001}}, {}) == [
        "cpu: corpus CER 0.1 -> 0.1001 (+0.0001) since the promotion of ?, beyond the tolerance 0"
    ]  # a tolerance not given is no tolerance


def test_the_cost_figures_are_rounded_and_count_only_wall_times_passed_beyond_their_limit():
    wall = {"metric": "TTS fastest latency ms", "outcome": "pass", "within": True, "line": ""}
    timed = [
        case(
            {"latency_ms": {"cpu_min": 700.06, "others_cpu": 0.85123}, "verdict": "pass", "outcomes": [wall]}
        ),
        case(
            {
                "latency_ms": {"cpu_min": 300.0, "others_cpu": 0.1},
                "verdict": "FAIL",
                "outcomes": [{**wall, "outcome": "FAIL", "within": False}],
            }
        ),
    ]
    assert cost_figures(timed) == {
        "latency_subset_cpu_ms": 1000.1,
        "others_cpu_max": 0.851,
        "retimed": 0,
        "wall_judged_by_cpu": 0,
    }

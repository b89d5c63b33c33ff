"""The registry file, its transitions, concurrent writers and the ``speechlab`` command."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
import yaml

from pytest_speechlab import cli
from pytest_speechlab.errors import SpeechlabError
from pytest_speechlab.store.registry import Entry, change_status, check_transition, load_registry, register

REGISTRY = """\
schema: 1
models:
  alpha:
    status: experimental
    capabilities: [asr]
    thresholds:
      wer_tolerance: 0.01
      ceilings:
        production: {wer: 0.15}
    history:
      - {from: null, to: experimental, reason: added}
  beta:
    status: production
    history: [{to: production}]
"""


@pytest.fixture
def path(tmp_path: Path) -> Path:
    target = tmp_path / "registry.yaml"
    target.write_text(REGISTRY)
    return target


@pytest.mark.parametrize(
    ("current", "target", "flags", "error"),
    [
        ("experimental", "candidate", {}, None),
        ("candidate", "production", {}, None),
        ("production", "deprecated", {"reason": "replaced"}, None),
        ("experimental", "deprecated", {"reason": "abandoned"}, None),
        ("experimental", "production", {"force": True, "reason": "hotfix"}, None),
        ("deprecated", "experimental", {"restore": True, "reason": "back"}, None),
        ("experimental", "production", {}, "skips candidate; force it, with a reason"),
        ("experimental", "production", {"force": True}, "give a reason (it is recorded in the history)"),
        ("production", "deprecated", {}, "give a reason (it is recorded in the history)"),
        ("production", "candidate", {}, "a model does not move back a stage; deprecate it instead"),
        ("deprecated", "production", {}, "deprecated is final; restore it explicitly, with a reason"),
        (
            "candidate",
            "experimental",
            {"restore": True, "reason": "x"},
            "only a deprecated model is restored",
        ),
        (
            "deprecated",
            "production",
            {"restore": True, "reason": "x"},
            "a restored model goes back to experimental",
        ),
        ("candidate", "candidate", {}, "the model is already candidate"),
        ("candidate", "retired", {}, "unknown status (use experimental, candidate, production, deprecated)"),
    ],
)
def test_transitions(current, target, flags, error):
    entry = Entry("m", status=current)
    if error is None:
        check_transition(entry, target, **flags)
    else:
        with pytest.raises(SpeechlabError) as err:
            check_transition(entry, target, **flags)
        assert str(err.value) == f"m: {current} -> {target}: {error}"


def test_reads_entries_thresholds_and_ceilings(path):
    registry = load_registry(path)
    alpha = registry.get("alpha")
    assert (alpha.status, alpha.capabilities, alpha.line) == ("experimental", ["asr"], 3)
    assert alpha.tolerances() == {"wer": 0.01}
    assert alpha.ceilings("production") == {"wer": 0.15} and alpha.ceilings("candidate") == {}
    with pytest.raises(SpeechlabError, match=r"no model 'gamma' \(registered: alpha, beta\)"):
        registry.get("gamma")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ("status: production\n    history: [{to: production}]", "status: prod"),
            ":12: model 'beta': status must be",
        ),
        (("capabilities: [asr]", "capabilities: [asr, ocr]"), ":3: model 'alpha': capabilities must be"),
        (("wer_tolerance: 0.01", "wer_tolerance: -1"), ":3: model 'alpha': thresholds.wer_tolerance must be"),
        (("wer_tolerance: 0.01", "wer_limit: 1"), ":3: model 'alpha': unknown threshold 'wer_limit'"),
        (("production: {wer: 0.15}", "production: {mos: 4}"), "ceilings.production.mos: unknown metric"),
        (
            ("    status: production\n", "    status: candidate\n"),
            ":12: model 'beta': status 'candidate' disagrees",
        ),
        (("capabilities: [asr]", "colour: red"), ":3: model 'alpha': unknown field(s) colour"),
        (("models:", "models: ["), ":4: not valid YAML"),
        (("schema: 1", "schema: 2"), "unknown schema 2"),
    ],
)
def test_broken_registry_is_a_one_line_error_naming_the_line(path, edit, message):
    path.write_text(REGISTRY.replace(*edit))
    with pytest.raises(SpeechlabError) as err:
        load_registry(path)
    assert "\n" not in str(err.value)
    assert str(err.value).startswith(str(path)) and message in str(err.value)


def test_change_appends_one_history_entry_and_keeps_the_rest(path):
    change = change_status(path, "alpha", "candidate", evidence={"metrics": {"cpu": {"corpus_wer": 0.07}}})
    after = load_registry(path)
    assert after.get("alpha").status == "candidate"
    assert after.get("alpha").history[:-1] == [{"from": None, "to": "experimental", "reason": "added"}]
    assert after.get("alpha").history[-1] == change
    assert change["from"] == "experimental" and change["reason"] == "gate passed"
    assert change["when"].endswith("Z") and change["who"]
    assert after.get("beta").history == [{"to": "production"}]
    assert after.get("alpha").thresholds["ceilings"] == {"production": {"wer": 0.15}}
    assert not list(path.parent.glob("*.tmp"))


def test_refused_change_leaves_the_file_byte_for_byte(path):
    before = path.read_bytes()
    with pytest.raises(SpeechlabError, match="skips candidate"):
        change_status(path, "alpha", "production", evidence={})
    with pytest.raises(
        SpeechlabError, match=r"alpha: candidate is reached only through the gate \(speechlab"
    ):
        change_status(path, "alpha", "candidate")  # no evidence of a gated run
    assert path.read_bytes() == before
    path.write_text(REGISTRY.replace("status: production\n    history", "status: nope\n    history"))
    broken = path.read_bytes()
    with pytest.raises(SpeechlabError, match="status must be"):
        change_status(path, "alpha", "candidate", evidence={})
    assert path.read_bytes() == broken != before


def test_a_restored_model_returns_to_its_status_before_deprecation_or_experimental(path):
    change_status(path, "beta", "deprecated", reason="replaced")
    beta = load_registry(path).get("beta")
    assert beta.before_deprecation() == "production"
    check_transition(beta, "production", restore=True, reason="back")  # the gate decides (speechlab restore)
    check_transition(beta, "experimental", restore=True, reason="back")
    with pytest.raises(SpeechlabError, match="goes back to production"):
        check_transition(beta, "candidate", restore=True, reason="back")
    with pytest.raises(SpeechlabError, match="reached only through the gate"):
        change_status(path, "beta", "production", restore=True, reason="back")


def test_a_model_is_registered_as_experimental_only(path):
    before = path.read_bytes()
    with pytest.raises(SpeechlabError, match="a model is registered as experimental; production is reached"):
        register(path, Entry("gamma", status="production"), reason="trust me")
    assert path.read_bytes() == before


def _deprecate(args: tuple[str, str]) -> None:
    path, name = args
    change_status(Path(path), name, "deprecated", reason=f"retire {name}")


def test_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / "registry.yaml"
    names = [f"m{i}" for i in range(8)]
    for name in names:
        register(path, Entry(name, capabilities=["asr"]), reason="added")
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        pool.map(_deprecate, [(str(path), n) for n in names])
    registry = load_registry(path)
    assert sorted(registry.models) == names
    for name in names:
        entry = registry.get(name)
        assert entry.status == "deprecated"
        assert [h["to"] for h in entry.history] == ["experimental", "deprecated"]


def test_touched_models(tmp_path, path):
    registry = load_registry(path)
    registry.models["gamma"] = Entry("gamma", status="deprecated")
    for name in ("alpha", "beta", "gamma"):
        (tmp_path / "baselines" / name).mkdir(parents=True)
    base = tmp_path / "baselines"
    assert cli.touched_models(["README.md", "tests/test_gate.py"], registry, base) == []
    assert cli.touched_models(["baselines/alpha/cpu.json"], registry, base) == ["alpha"]
    assert cli.touched_models(["pytest_speechlab/gate.py"], registry, base) == ["alpha", "beta"]
    assert cli.touched_models(["data/manifest.yaml"], registry, base) == ["alpha", "beta"]
    registry.models["whisper"] = Entry("whisper")
    (base / "whisper").mkdir()
    assert cli.touched_models(["pytest_speechlab/engines/whisper.py"], registry, base) == ["whisper"]
    assert cli.touched_models(["pytest_speechlab/engines/base.py"], registry, base) == [
        "alpha",
        "beta",
        "whisper",
    ]
    # the judge listens to every text-to-speech model: a change to it touches them all
    registry.models["piper"] = Entry("piper", capabilities=["tts"])
    (base / "piper").mkdir()
    judged = cli.touched_models(["baselines/whisper/cpu.json"], registry, base, judge="whisper")
    assert judged == ["whisper", "piper"]
    assert cli.touched_models(["baselines/whisper/cpu.json"], registry, base, judge="alpha") == ["whisper"]


def test_ci_workflow_uses_real_commands_and_options(pytestconfig):
    """The GitHub workflow can't run here; check that it parses and that every flag it passes
    to pytest and to ``speechlab`` exists."""
    import re

    from ..projects import REPO

    text = (REPO / ".github" / "workflows" / "speech-gate.yml").read_text()
    workflow = yaml.safe_load(text)
    steps = {step.get("name"): step for step in workflow["jobs"]["gate"]["steps"]}
    assert {"Gate", "Job summary", "Upload results", "Restore the model cache"} <= set(steps)
    gate = steps["Gate"]["run"]
    flags = re.findall(r"(--speech-[a-z-]+)=", gate)
    assert len(flags) == 5
    assert '-m "not speech_speed"' in gate  # the fast profile: pytest-benchmark timings are for local runs
    for flag in flags:
        pytestconfig.getoption(flag.removeprefix("--").replace("-", "_"))  # ValueError if unknown
    assert "--junitxml=" in gate and "GITHUB_STEP_SUMMARY" in steps["Job summary"]["run"]
    assert "speechlab touched --base" in steps["Models this change touches"]["run"]
    cli.parser().parse_args(["touched", "--base", "origin/main"])


def test_written_registry_has_no_yaml_aliases(tmp_path):
    from pytest_speechlab.store.registry import Registry

    shared = {"ceilings": {"production": {"wer": 0.1}}}
    registry = Registry(tmp_path / "r.yaml", {n: Entry(n, thresholds=shared) for n in ("a", "b")})
    text = registry.dumps()
    assert "&" not in text and "*" not in text
    assert text.count("wer: 0.1") == 2


CHANGE_KEYS = {"from", "to", "when", "who", "commit", "reason"}


def test_forced_and_restored_changes_say_so_in_the_history(path):
    forced = change_status(path, "alpha", "production", force=True, reason="hotfix", evidence={"runs": 1})
    assert set(forced) == CHANGE_KEYS | {"forced", "runs"}
    assert (forced["from"], forced["to"], forced["forced"], forced["reason"]) == (
        "experimental",
        "production",
        True,
        "hotfix",
    )
    change_status(path, "alpha", "deprecated", reason="replaced")
    restored = change_status(path, "alpha", "experimental", restore=True, reason="  back  ")
    assert set(restored) == CHANGE_KEYS | {"restored"} and restored["restored"] is True
    assert restored["reason"] == "back"
    history = load_registry(path).get("alpha").history
    assert [h["to"] for h in history] == ["experimental", "production", "deprecated", "experimental"]
    assert history[1]["forced"] is True and history[3]["restored"] is True


def test_a_promotion_records_the_fields_of_the_run_that_earned_it(path):
    fields = {
        "engine": "toy 1",
        "source": "package:toy==1",
        "revision": "sha256:ab",
        "options": {"beam_size": 5},
    }
    change_status(path, "alpha", "candidate", evidence={}, fields=fields)
    alpha = load_registry(path).get("alpha")
    assert (alpha.engine, alpha.source, alpha.revision, alpha.options) == (
        "toy 1",
        "package:toy==1",
        "sha256:ab",
        {"beam_size": 5},
    )
    assert alpha.as_yaml() == {
        "status": "candidate",
        "engine": "toy 1",
        "source": "package:toy==1",
        "revision": "sha256:ab",
        "options": {"beam_size": 5},
        "capabilities": ["asr"],
        "thresholds": {"wer_tolerance": 0.01, "ceilings": {"production": {"wer": 0.15}}},
        "history": alpha.history,
    }
    assert Entry("m").as_yaml() == {"status": "experimental", "history": []}


def test_registering_records_one_change_from_nothing(tmp_path):
    path = tmp_path / "registry.yaml"
    change = register(path, Entry("gamma", capabilities=["tts"]), reason=" new voice ")
    assert set(change) == CHANGE_KEYS and change["from"] is None and change["reason"] == "new voice"
    assert load_registry(path).get("gamma").history == [change]
    with pytest.raises(SpeechlabError) as err:
        register(path, Entry("gamma"), reason="again")
    assert str(err.value) == f"{path}: gamma is already registered"
    with pytest.raises(SpeechlabError) as err:
        register(path, Entry("delta"), reason=" ")
    assert str(err.value) == "delta: give a reason for registering it"
    empty = load_registry(tmp_path / "none.yaml")
    with pytest.raises(SpeechlabError, match=r"no model 'gamma' \(registered: none\)"):
        empty.get("gamma")


def test_a_deprecated_model_without_a_known_status_before_goes_back_to_experimental():
    unknown = Entry("m", status="deprecated", history=[{"from": None, "to": "deprecated"}])
    assert unknown.before_deprecation() == "experimental"
    assert Entry("m", status="deprecated").before_deprecation() == "experimental"
    with pytest.raises(SpeechlabError) as err:
        check_transition(unknown, "candidate", restore=True, reason="back")
    assert str(err.value) == "m: deprecated -> candidate: a restored model goes back to experimental"
    production = Entry("m", status="deprecated", history=[{"from": "production", "to": "deprecated"}])
    with pytest.raises(SpeechlabError) as err:
        check_transition(production, "candidate", restore=True, reason="back")
    assert str(err.value) == (
        "m: deprecated -> candidate: a restored model goes back to production "
        "(its status before deprecation) or to experimental"
    )


@pytest.mark.parametrize(
    ("thresholds", "message"),
    [
        ("[0.1]", "thresholds must be a mapping"),
        ("{wer_tolerance: true}", "thresholds.wer_tolerance must be a number >= 0, got True"),
        ("{cer_tolerance: '0.1'}", "thresholds.cer_tolerance must be a number >= 0, got '0.1'"),
        ("{ceilings: [1]}", "thresholds.ceilings must map a status to limits"),
        (
            "{ceilings: {production: 0.1}}",
            "thresholds.ceilings.production: expected candidate or production with a mapping of "
            "wer, cer, rtf, hallucination_rate to limits",
        ),
        (
            "{ceilings: {retired: {wer: 0.1}}}",
            "thresholds.ceilings.retired: expected candidate or production",
        ),
        ("{ceilings: {production: {wer: -0.1}}}", "thresholds.ceilings.production.wer must be a number >= 0"),
    ],
)
def test_thresholds_are_checked_with_a_message_naming_the_key(path, thresholds, message):
    path.write_text(
        REGISTRY.replace(
            "    status: production\n", f"    status: production\n    thresholds: {thresholds}\n"
        )
    )
    with pytest.raises(SpeechlabError) as err:
        load_registry(path)
    assert str(err.value).startswith(f"{path}:12: model 'beta': {message}")


def test_zero_tolerances_and_ceilings_are_allowed(path):
    path.write_text(
        REGISTRY.replace(
            "    status: production\n",
            "    status: production\n    thresholds: "
            "{wer_tolerance: 0, ceilings: {production: {hallucination_rate: 0}}}\n",
        )
    )
    beta = load_registry(path).get("beta")
    assert beta.tolerances() == {"wer": 0.0} and beta.ceilings("production") == {"hallucination_rate": 0.0}


def test_the_written_file_keeps_the_order_of_models_and_fields_and_writes_text_as_it_is(tmp_path):
    from pytest_speechlab.store.registry import Registry

    reason = "replaced by the int8 build → faster on the café's laptop, same WER on all thirty-five cases"
    history = [{"to": "experimental", "reason": reason}]
    registry = Registry(tmp_path / "r.yaml", {n: Entry(n, history=list(history)) for n in ("zeta", "alpha")})
    text = registry.dumps()
    assert text.index("zeta:") < text.index("alpha:")  # in the order they were registered
    assert text.index("status:") < text.index("history:")
    assert f"reason: {reason}\n" in text  # unescaped, on one line
    assert text.startswith("# pytest-speechlab model registry")


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("bad-name: {status: experimental}", "3: model 'bad-name': a model name is a --speech-model name"),
        (
            "1: {status: experimental}",
            "0: model 1: a model name is a --speech-model name (letters, digits, _)",
        ),
        ("alpha: [experimental]", "3: model 'alpha': expected a mapping of the model's fields"),
        (
            "alpha: {status: experimental, size: 1, colour: red}",
            "3: model 'alpha': unknown field(s) colour, size",
        ),
        (
            "alpha: {status: prod}",
            "3: model 'alpha': status must be one of experimental, candidate, production, deprecated, "
            "got 'prod'",
        ),
        (
            "alpha: {status: experimental, history: {to: experimental}}",
            "3: model 'alpha': history must be a list",
        ),
        (
            "alpha: {status: experimental, history: [{from: null}]}",
            "3: model 'alpha': history must be a list",
        ),
        (
            "alpha: {status: experimental, options: [5]}",
            "3: model 'alpha': options must be a mapping of engine",
        ),
        (
            "alpha: {status: experimental, thresholds: {wer: 1}}",
            "3: model 'alpha': unknown threshold 'wer' (known: wer_tolerance, cer_tolerance, "
            "latency_tolerance, duration_tolerance, silence_tolerance, robustness_tolerance, "
            "dnsmos_tolerance, similarity_tolerance, timestamp_tolerance, ceilings)",
        ),
        (
            "alpha: {status: experimental, thresholds: {ceilings: {candidate: {mos: 4}}}}",
            "3: model 'alpha': thresholds.ceilings.candidate.mos: unknown metric "
            "(use wer, cer, rtf, hallucination_rate)",
        ),
    ],
)
def test_each_broken_entry_is_named_with_its_line(tmp_path, model, message):
    path = tmp_path / "registry.yaml"
    path.write_text(f"schema: 1\nmodels:\n  {model}\n")
    with pytest.raises(SpeechlabError) as err:
        load_registry(path)
    assert str(err.value).startswith(f"{path}:{message}")


@pytest.mark.parametrize("text", ["[1]\n", "schema: 1\nmodels: [alpha]\n"])
def test_a_registry_that_is_not_a_mapping_of_models_is_refused(tmp_path, text):
    path = tmp_path / "registry.yaml"
    path.write_text(text)
    with pytest.raises(SpeechlabError) as err:
        load_registry(path)
    assert str(err.value) == f"{path}: expected a mapping with 'schema' and a 'models' mapping"


def test_an_entry_reads_back_every_field_and_defaults_the_rest(tmp_path):
    path = tmp_path / "registry.yaml"
    path.write_text(
        "schema: 1\nnotes: {owner: speech team}\nmodels:\n"
        "  alpha:\n    status: experimental\n    capabilities: [asr, tts]\n    options: {beam_size: 5}\n"
        "    history: [{to: experimental}]\n"
        "  beta:\n    status: experimental\n    engine: toy 1\n    thresholds:\n    history:\n"
    )
    registry = load_registry(path)
    assert registry.path == path
    alpha, beta = registry.get("alpha"), registry.get("beta")
    assert (alpha.name, alpha.line, alpha.capabilities, alpha.options) == (
        "alpha",
        4,
        ["asr", "tts"],
        {"beam_size": 5},
    )
    assert (alpha.engine, alpha.source, alpha.revision) == ("", "", "")
    assert (beta.name, beta.line, beta.engine, beta.options, beta.thresholds, beta.history) == (
        "beta", 9, "toy 1", {}, {}, []
    )  # fmt: skip
    for empty in ("", "# nothing registered yet\n"):
        path.write_text(empty)
        assert load_registry(path).path == path and load_registry(path).models == {}
    assert load_registry(tmp_path / "none.yaml").path == tmp_path / "none.yaml"


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("{wer: 0.15}", "{wer: .nan}", "models.alpha.thresholds.ceilings.production.wer is nan"),
        ("wer_tolerance: 0.01", "wer_tolerance: .inf", "models.alpha.thresholds.wer_tolerance is inf"),
        ("wer_tolerance: 0.01", "wer_tolerance: -.Inf", "models.alpha.thresholds.wer_tolerance is -inf"),
    ],
)
def test_a_non_finite_threshold_is_refused_naming_the_file_and_the_key(
    path: Path, old: str, new: str, key: str
):
    """A NaN ceiling never blocks (every comparison with it is false) and an infinite tolerance
    passes anything: refused on read, in one line."""
    path.write_text(REGISTRY.replace(old, new))
    with pytest.raises(SpeechlabError, match=rf"^{path}: {key}: only finite numbers are allowed$"):
        load_registry(path)


def test_evidence_with_a_non_finite_number_is_refused_and_the_registry_kept(path: Path):
    """Written, ``.inf`` would make the next read refuse the whole registry."""
    evidence = {"metrics": {"cpu": {"latency_ratio": float("inf")}}}
    with pytest.raises(
        SpeechlabError, match=r"models\.alpha\.history\[1\]\.metrics\.cpu\.latency_ratio is inf"
    ):
        change_status(path, "alpha", "candidate", evidence=evidence)
    assert path.read_text() == REGISTRY

"""The Ray pass (``measure.ray_pass``) without a cluster: a toy engine, and a stand-in for the
few Ray calls the pass makes, which runs each actor's work in this process when its result is
asked for. Actors can be made to die after some cases or to load another model; the real cluster
is tests/e2e/test_ray.py's."""

from __future__ import annotations

import socket
import sys
from collections import deque
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import pytest

from pytest_speechlab.core.case import Case
from pytest_speechlab.core.settings import Settings
from pytest_speechlab.engines import ModelIdentity
from pytest_speechlab.errors import SpeechlabError
from pytest_speechlab.gate.records import RunRecord
from pytest_speechlab.io import audio as audio_module
from pytest_speechlab.measure import ray_pass
from pytest_speechlab.measure import run as measure_run
from pytest_speechlab.measure.ray_pass import Dispatch, RayOutcome, on_ray
from pytest_speechlab.measure.run import AudioCache, ModelRun
from pytest_speechlab.plugin import ray_cases
from pytest_speechlab.store.baselines import Comparison

IDENTITY = ModelIdentity("toy 1", "toy", "none", "sha256:aaaa", "cpu", "none")


class ToyEchoEngine:
    """A toy engine: it hears the case's id in its audio's length (in samples) and fails on
    a case 13 samples long (14: without a message)."""

    name = "toy_echo"
    tasks: ClassVar[tuple[str, ...]] = ("asr",)
    sample_rate = 16000
    default_options: ClassVar[dict[str, Any]] = {"cpu_threads": None, "batch_size": 1}
    identity = IDENTITY

    @classmethod
    def unavailable(cls, device: str) -> str | None:
        return None

    @classmethod
    def load(cls, source: str | None, device: str, options: dict[str, Any]) -> ToyEchoEngine:
        engine = cls()
        engine.options = options
        engine.heard = []  # (samples, language) of each call, in order
        return engine

    def transcribe(self, audio: np.ndarray, language: str | None) -> str:
        self.heard.append((len(audio), language))
        if len(audio) == 13:
            raise RuntimeError("no such word")
        if len(audio) == 14:
            raise RuntimeError()
        return f"word {len(audio)}"


class ToyBatchEngine(ToyEchoEngine):
    """A toy engine that batches: what it hears says which batch a case was in (its size and
    first case), so that a batch made differently shows in the hypotheses."""

    name = "toy_batch"
    batches: ClassVar[list[list[int]]] = []

    def transcribe_many(self, audios: list[np.ndarray], language: str | None) -> list[str]:
        self.batches.append([len(a) for a in audios])
        self.heard.append((tuple(len(a) for a in audios), language))
        return [f"word {len(a)} of {len(audios)} from {len(audios[0])} {language}" for a in audios]


class ToyFailingBatchEngine(ToyBatchEngine):
    """A toy engine whose batch fails whole on a case 13 samples long, as a batched call does."""

    def transcribe_many(self, audios: list[np.ndarray], language: str | None) -> list[str]:
        if any(len(a) == 13 for a in audios):
            raise RuntimeError("no such word")
        return super().transcribe_many(audios, language)


class Died(Exception):
    pass


class TaskError(Exception):
    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


class RayError(Exception):
    pass


class ActorDied(RayError):
    pass


class Ref:
    def __init__(self, work: Any, actor: int) -> None:
        self.work, self.actor = work, actor


class Actor:
    def __init__(self, fake: FakeRay, index: int, args: tuple[Any, ...]) -> None:
        self.fake, self.index, self.args = fake, index, args
        self.host: ray_pass.EngineHost | None = None
        self.cases = 0
        self.dead = False
        self.sent: list[tuple[Any, ...]] = []  # the arguments of each case or batch sent
        self.describe = SimpleNamespace(remote=lambda: Ref(self._describe, index))
        self.transcribe = SimpleNamespace(remote=lambda *a: self._send("transcribe", a))
        self.transcribe_batch = SimpleNamespace(remote=lambda *a: self._send("transcribe_batch", a))

    def _send(self, method: str, args: tuple[Any, ...]) -> Ref:
        self.sent.append(args)
        return Ref(lambda: self._transcribe(method, *args), self.index)

    def _describe(self) -> dict[str, Any]:
        if self.index in self.fake.dead_on_arrival:
            raise ActorDied("the actor died before it was ready")
        if self.index in self.fake.load_fails:
            raise TaskError(RuntimeError("no weights here\nand a traceback after"))
        self.host = ray_pass.EngineHost(*self.args)
        info = self.host.describe()
        identity = self.fake.identities.get(self.index)
        if identity is not None:
            info["identity"] = ray_pass.asdict(identity)
        gpus = [str(self.index)] if self.fake.gpus else []
        return {**info, "node": f"node{self.index}", "address": f"10.0.0.{self.index}", "gpus": gpus}

    def _transcribe(self, method: str, *args: Any) -> Any:
        if self.dead or self.cases >= self.fake.dies_after.get(self.index, 10**6):
            self.dead = True
            raise ActorDied("the actor died unexpectedly")
        case_ids = {c.id for c in (args[0] if isinstance(args[0], list) else [args[0]])}
        for case_id in case_ids & set(self.fake.objects_lost):
            if self.fake.objects_lost[case_id] > 0:
                self.fake.objects_lost[case_id] -= 1
                raise RayError("an object of the case was lost")
        self.cases += 1
        assert self.host is not None
        try:
            return getattr(self.host, method)(*args)
        except Exception as exc:
            raise TaskError(exc) from exc


class FakeRay:
    """The Ray calls the pass makes; each result worked out when ``get`` asks for it, in the
    order the work was sent."""

    __version__ = "0.fake"
    exceptions = SimpleNamespace(RayError=RayError, RayActorError=ActorDied, RayTaskError=TaskError)

    def __init__(self, cpus: int = 2, **behaviour: Any) -> None:
        self.cpus = cpus
        self.gpus: int = behaviour.get("gpus", 0)
        self.dies_after: dict[int, int] = behaviour.get("dies_after", {})
        self.identities: dict[int, ModelIdentity] = behaviour.get("identities", {})
        self.interrupt_at: int | None = behaviour.get("interrupt_at")
        self.dead_on_arrival: set[int] = behaviour.get("dead_on_arrival", set())
        self.load_fails: set[int] = behaviour.get("load_fails", set())
        self.objects_lost: dict[str, int] = behaviour.get("objects_lost", {})  # case id -> times
        self.most_in_flight = 0  # the most sends waiting on one actor at once
        self.actors: list[Actor] = []
        self.options: dict[str, Any] = {}
        self.connected = self.shut = False
        self.killed: list[int] = []
        self.cancelled: list[Ref] = []
        self.waits = 0

    def is_initialized(self) -> bool:
        return self.connected

    def init(self, **kwargs: Any) -> None:
        self.connected = True

    def shutdown(self) -> None:
        self.shut = True

    def available_resources(self) -> dict[str, float]:
        return {"CPU": float(self.cpus), "GPU": float(self.gpus)}

    def remote(self, cls: type) -> Any:
        def options(**given: Any) -> Any:
            self.options = given
            return SimpleNamespace(remote=self._actor)

        return SimpleNamespace(options=options)

    def _actor(self, *args: Any) -> Actor:
        self.actors.append(Actor(self, len(self.actors), args))
        return self.actors[-1]

    def wait(self, refs: list[Ref], num_returns: int, timeout: float) -> tuple[list[Ref], list[Ref]]:
        self.waits += 1
        actors = [ref.actor for ref in refs]
        self.most_in_flight = max(self.most_in_flight, *(actors.count(a) for a in actors))
        if self.waits == self.interrupt_at:
            raise KeyboardInterrupt
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref: Ref) -> Any:
        return ref.work()

    def kill(self, actor: Actor) -> None:
        self.killed.append(actor.index)

    def cancel(self, ref: Ref) -> None:
        assert isinstance(ref, Ref)
        self.cancelled.append(ref)


@pytest.fixture(autouse=True)
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each case's audio as long as its number (c7: 7 samples) at the toy engines' 16 kHz (1000
    more at any other rate), without a file; here and on an actor reading the case's path."""

    def toy_audio(case: Case, rate: int) -> np.ndarray:
        return np.zeros(int(case.id[1:]) + (0 if rate == 16000 else 1000), np.float32)

    monkeypatch.setattr(measure_run, "case_audio", toy_audio)
    monkeypatch.setattr(audio_module, "case_audio", toy_audio)


def toy_run(
    ids: tuple[int, ...] = (1, 2, 3, 4, 5), engine: type[ToyEchoEngine] = ToyEchoEngine, **settings: Any
) -> ModelRun:
    cases = tuple(Case(id=f"c{i}", audio=Path(f"c{i}.wav"), text=f"word {i}", duration_s=1.0) for i in ids)
    nowhere = Comparison("toy_echo on cpu", Path("b.json"), None)
    given = Settings(**{"ray": "10.0.0.1:6379", "warmup": 0, **settings})
    return ModelRun("toy_echo", "cpu", engine, given, cases, AudioCache(), nowhere)


def test_the_cases_measured_on_the_actors_are_the_serial_run_s():
    serial, run, fake = toy_run(), toy_run(), FakeRay(cpus=2)
    outcome = on_ray(run, list(run.cases), run.settings, fake)
    expected = {c.id: serial.measure(c) for c in serial.cases}
    assert {i: (r.raw_hypothesis, r.score) for i, r in run.results.items()} == {
        i: (r.raw_hypothesis, r.score) for i, r in expected.items()
    }
    assert all(len(r.timing.runs) == 1 and not r.repeated for r in run.results.values())
    assert outcome.cases == 5 and outcome.nodes == 2 and not (outcome.lost or outcome.died or outcome.refused)
    assert fake.options["num_cpus"] == 1 and fake.options["num_gpus"] == 0
    assert fake.options["max_restarts"] == 0 and fake.options["scheduling_strategy"] == "SPREAD"
    assert [a.host.engine.options["cpu_threads"] for a in fake.actors if a.host] == [1, 1]  # type: ignore[attr-defined]
    assert sorted(fake.killed) == [0, 1] and fake.shut  # nothing left running, disconnected
    assert sum(a.cases for a in fake.actors) == 5  # each case transcribed once
    ray = sys.modules.get("ray")
    assert ray is None or not ray.is_initialized()  # no Ray of its own started here


def test_an_actor_that_dies_has_its_cases_sent_to_another_and_each_is_judged_once():
    run, fake = toy_run(), FakeRay(cpus=2, dies_after={1: 1})
    outcome = on_ray(run, list(run.cases), run.settings, fake)
    assert sorted(run.results) == ["c1", "c2", "c3", "c4", "c5"] and not run.errors
    assert [r.raw_hypothesis for r in run.results.values()] == [f"word {i}" for i in (1, 2, 3, 4, 5)]
    assert len(outcome.died) == 1 and outcome.died[0].startswith("ActorDied on node 10.0.0.1 node1")
    assert outcome.sent_again == 1 and not outcome.lost  # the case it held when it died
    assert outcome.as_dict()["sent_again"] == outcome.sent_again and outcome.as_dict()["nodes"] == 2


def test_cases_no_actor_can_finish_are_lost_named_in_one_line_and_fail_their_tests():
    run, fake = toy_run(), FakeRay(cpus=2, dies_after={0: 1, 1: 1})
    outcome = on_ray(run, list(run.cases), run.settings, fake)
    lost = sorted(outcome.lost)
    assert len(run.results) == 2 and len(lost) == 3 and set(lost).isdisjoint(run.results)
    assert all(
        run.errors[i] == "lost on the Ray cluster (no actor left on the cluster to send it to)" for i in lost
    )
    line = outcome.lost_line(run.label)
    named = ", ".join(lost)
    assert line.startswith(
        f"speechlab: 3 case(s) of toy_echo on cpu lost on the Ray cluster, not judged: {named}"
    )
    assert line.endswith("the run fails")
    assert outcome.problem(run.label, None) == line  # a corpus test: the whole is not there
    assert outcome.problem(run.label, lost[0]).startswith(f"{lost[0]}: lost on the Ray cluster (")  # type: ignore[union-attr]
    assert outcome.problem(run.label, next(iter(run.results))) is None


def test_an_actor_with_another_model_is_refused_naming_its_node_and_the_others_measure():
    other = replace(IDENTITY, revision="sha256:bbbb")
    run, fake = toy_run(), FakeRay(cpus=2, identities={1: other})
    outcome = on_ray(run, list(run.cases), run.settings, fake)
    assert outcome.refused == [
        "node 10.0.0.1 node1: cpu refused: its model differs: "
        "revision: 'sha256:aaaa' here, 'sha256:bbbb' there"
    ]
    assert len(run.results) == 5 and fake.actors[1].cases == 0 and outcome.nodes == 1


def test_an_engine_error_on_the_cluster_is_the_case_s_error_not_a_fault():
    run = toy_run(ids=(1, 13, 2))
    outcome = on_ray(run, list(run.cases), run.settings, FakeRay(cpus=1))
    assert sorted(run.results) == ["c1", "c2"] and run.errors == {"c13": "RuntimeError: no such word"}
    assert outcome.failed == {"c13": "RuntimeError: no such word"} and not outcome.lost
    assert outcome.problem(run.label, "c13") == "RuntimeError: no such word"


def test_ctrl_c_cancels_the_remote_work_and_kills_every_actor():
    run, fake = toy_run(), FakeRay(cpus=2, interrupt_at=4)
    with pytest.raises(KeyboardInterrupt):
        on_ray(run, list(run.cases), run.settings, fake)
    assert fake.cancelled and sorted(fake.killed) == [0, 1] and fake.shut


def test_the_latency_subset_is_timed_on_the_cluster_only_when_asked():
    run = toy_run(ids=(1, 2), latency_tags=("t",), repeats=3)
    run.cases = tuple(replace(c, tags=("t",)) if c.id == "c2" else c for c in run.cases)
    on_ray(run, list(run.cases), run.settings, FakeRay(cpus=1))
    assert not run.results["c2"].repeated  # timed here, by its test
    run = toy_run(ids=(1, 2), latency_tags=("t",), repeats=3, ray_latency=True)
    run.cases = tuple(replace(c, tags=("t",)) if c.id == "c2" else c for c in run.cases)
    outcome = on_ray(run, list(run.cases), run.settings, FakeRay(cpus=1))
    timing = run.results["c2"].timing
    assert run.results["c2"].repeated and len(timing.runs) == 3 and len(timing.calibration) == 3
    assert outcome.latency == "cluster" and not run.results["c1"].repeated


def test_only_the_cases_not_measured_yet_are_sent():
    run = toy_run()
    run.measure(run.cases[0])
    outcome = on_ray(run, list(run.cases), run.settings, FakeRay(cpus=2))
    assert outcome.cases == 4


def test_how_many_actors_fit():
    assert ray_pass.actor_count({"CPU": 8.0}, "cpu", 2, 100) == 4
    assert ray_pass.actor_count({"CPU": 8.0}, "cpu", 1, 3) == 3  # never more than the cases
    assert ray_pass.actor_count({"CPU": 8.0, "GPU": 2.0}, "cuda", 1, 100) == 2
    assert ray_pass.actor_count({"CPU": 1.5}, "cpu", 2, 100) == 0
    assert ray_pass.actor_count({"CPU": 8.0}, "cuda", 1, 100) == 0  # no GPU on the cluster
    assert ray_pass.actor_count({"GPU": 2.0}, "cpu", 1, 100) == 0


def test_no_room_on_the_cluster_is_one_line(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(ray_pass, "ROOM_WAIT_S", 0.0)
    run = toy_run()
    with pytest.raises(
        SpeechlabError, match=r"no actor fits: the cluster has not 1 free CPU\(s\) for toy_echo"
    ):
        on_ray(run, list(run.cases), run.settings, FakeRay(cpus=0))


def test_a_case_is_sent_at_most_max_sends_times():
    dispatch = Dispatch(deque(["a", "b"]), max_sends=2)
    assert dispatch.take() == ["a"] and dispatch.again("a", "its actor died")
    assert dispatch.take() == ["a"] and not dispatch.again("a", "its actor died")
    assert dispatch.lost == {"a": "sent 2 times, its actor died"} and dispatch.sent_again == 1
    dispatch.abandon("no actor left")
    assert dispatch.lost["b"] == "no actor left" and dispatch.take() == []


def test_a_batch_is_the_next_cases_that_may_share_it_in_order():
    language = {"a": "en", "b": "fr", "c": "en", "d": "en", "e": "fr"}.__getitem__
    dispatch = Dispatch(deque("abcde"))
    assert dispatch.take(2, language) == ["a", "c"]  # b, another language, stays first in line
    assert dispatch.take(3, language) == ["b", "e"] and dispatch.take(3, language) == ["d"]
    assert dispatch.take(3, language) == [] and dispatch.sends == dict.fromkeys("abcde", 1)


def test_a_batched_pass_makes_the_serial_run_s_batches():
    ToyBatchEngine.batches = []
    options = {"model_options": {"toy_echo": {"batch_size": 2}}}
    ids = (1, 2, 3, 4, 5)
    serial, run = toy_run(ids, ToyBatchEngine, **options), toy_run(ids, ToyBatchEngine, **options)
    for which in (serial, run):  # c3 in another language: the batches are c1+c2, c3, c4+c5
        which.cases = tuple(replace(c, language="fr") if c.id == "c3" else c for c in which.cases)
    expected = {c.id: serial.measure(c) for c in serial.cases}
    outcome = on_ray(run, list(run.cases), run.settings, FakeRay(cpus=2))
    assert {i: r.raw_hypothesis for i, r in run.results.items()} == {
        i: r.raw_hypothesis for i, r in expected.items()
    }
    assert run.results["c1"].raw_hypothesis == "word 1 of 2 from 1 None"
    assert sorted(ToyBatchEngine.batches) == sorted([[1, 2], [3], [4, 5]] * 2)  # the serial's, and the pass's
    assert run.results["c4"].timing.runs[0] == run.results["c5"].timing.runs[0]  # an equal share each
    assert outcome.cases == 5 and not (outcome.lost or outcome.failed)


def test_a_batch_whose_actor_dies_is_sent_again_whole_and_each_case_judged_once():
    ToyBatchEngine.batches = []
    run = toy_run((1, 2, 3, 4), ToyBatchEngine, model_options={"toy_echo": {"batch_size": 2}})
    outcome = on_ray(run, list(run.cases), run.settings, FakeRay(cpus=2, dies_after={0: 0}))
    assert [r.raw_hypothesis for r in run.results.values()] == [
        "word 1 of 2 from 1 None",
        "word 2 of 2 from 1 None",
        "word 3 of 2 from 3 None",
        "word 4 of 2 from 3 None",
    ]
    assert len(outcome.died) == 1 and outcome.sent_again == 4 and not outcome.lost  # both its batches


def test_an_engine_error_in_a_batch_is_each_of_its_cases_error():
    run = toy_run((1, 13, 2), model_options={"toy_echo": {"batch_size": 2}})
    outcome = on_ray(run, list(run.cases), run.settings, FakeRay(cpus=1))  # toy_echo does not batch:
    assert sorted(run.results) == ["c1", "c2"] and list(outcome.failed) == ["c13"]  # one at a time
    run = toy_run((1, 13, 2), ToyFailingBatchEngine, model_options={"toy_echo": {"batch_size": 3}})
    outcome = on_ray(run, list(run.cases), run.settings, FakeRay(cpus=1))
    assert run.results == {} and outcome.failed == dict.fromkeys(
        ("c1", "c13", "c2"), "RuntimeError: no such word"
    )


def test_what_a_pass_on_ray_cannot_do_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch):
    run = toy_run(model_options={"toy_echo": {"batch_size": 8}})
    assert ray_pass.refusal(run) is None  # a batched pass goes to the cluster too
    run = ModelRun("toy_echo", "cuda:1", ToyEchoEngine, Settings(ray="auto"), (), AudioCache(), run.against)
    assert (
        ray_pass.refusal(run)
        == "--speech-ray: name the device cuda, not cuda:1: Ray gives each actor its own GPU"
    )
    with pytest.raises(SpeechlabError, match="not with pytest-xdist"):
        ray_pass.check(Settings(ray="auto"), under_xdist=True)
    with pytest.raises(SpeechlabError, match="--speech-ray-cpus: at least 1"):
        ray_pass.check(Settings(ray="auto", ray_cpus=0), under_xdist=False)
    monkeypatch.setitem(__import__("sys").modules, "ray", None)
    with pytest.raises(
        SpeechlabError, match=r"Ray is not installed \(pip install 'pytest-speechlab\[ray\]'\)"
    ):
        ray_pass.check(Settings(ray="auto"), under_xdist=False)
    ray_pass.check(Settings(), under_xdist=True)  # no Ray asked: nothing to refuse


def test_threads_follow_the_actor_s_cpus_unless_given():
    defaults = {"cpu_threads": None}
    assert ray_pass.actor_options({"cpu_threads": None, "x": 1}, defaults, 4) == {"cpu_threads": 4, "x": 1}
    assert ray_pass.actor_options({"cpu_threads": 2}, defaults, 4) == {"cpu_threads": 2}
    assert ray_pass.actor_options({"x": 1}, {}, 4) == {"x": 1}  # an engine without the option


def test_the_selected_tests_decide_which_cases_go_to_the_cluster():
    run, other = toy_run(), toy_run()

    def item(case: Case | None, fixtures: tuple[str, ...] = (), model: ModelRun = run) -> Any:
        params = {"speech_model": model, **({"speech_case": case} if case else {})}
        return SimpleNamespace(callspec=SimpleNamespace(params=params), fixturenames=fixtures)

    c1, c3 = run.cases[0], run.cases[2]
    picked = [item(c3), item(c1), item(c1), item(run.cases[1], model=other)]
    assert [c.id for c in ray_cases(picked, run)] == ["c1", "c3"]  # manifest order, each once
    assert len(ray_cases([*picked, item(None, ("speech_corpus",))], run)) == 5  # a corpus test: all
    assert ray_cases([item(None, ("benchmark",))], run) == []


def test_the_results_file_says_where_the_pass_ran_and_only_then():
    record = RunRecord("toy_echo", "cpu", [])
    assert "cluster" not in record.to_json()
    outcome = RayOutcome(
        "10.0.0.1:6379", "2.60.0", [{"node": "ab" * 20, "address": "10.0.0.2", "device": "cpu"}]
    )
    record.cluster = outcome.as_dict()
    data = record.to_json()
    assert data["cluster"]["nodes"] == 1 and data["cluster"]["devices"] == ["node 10.0.0.2 abababab: cpu"]
    assert RunRecord.from_json(data).cluster == data["cluster"]


def test_an_address_where_nothing_listens_is_refused_at_once():
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        ray_pass.answers(f"127.0.0.1:{port}")  # something answers
        ray_pass.answers(f"ray://127.0.0.1:{port}")
    said = rf"--speech-ray=127.0.0.1:{port}: cannot join the cluster: nothing answers there \("
    with pytest.raises(SpeechlabError, match=said):
        ray_pass.answers(f"127.0.0.1:{port}")
    ray_pass.answers("auto")  # Ray finds this machine's cluster itself


def test_on_cuda_each_actor_holds_one_gpu():
    run = toy_run()
    run = ModelRun("toy_echo", "cuda", ToyEchoEngine, run.settings, run.cases, AudioCache(), run.against)
    fake = FakeRay(cpus=8, gpus=2)
    outcome = on_ray(run, list(run.cases), run.settings, fake)
    assert len(fake.actors) == 2 and fake.options["num_gpus"] == 1 and fake.options["num_cpus"] == 0
    assert outcome.cases == 5 and [a["device"] for a in outcome.actors] == ["cuda", "cuda"]
    assert outcome.devices() == ["node 10.0.0.0 node0: cuda GPU 0", "node 10.0.0.1 node1: cuda GPU 1"]


def hosts(fake: FakeRay) -> list[Any]:
    """The engines the stand-in's actors loaded."""
    return [a.host.engine for a in fake.actors if a.host]


def test_an_actor_warms_up_once_on_its_first_case_alone_and_hears_each_case_s_language():
    run = toy_run((1, 2, 3), warmup=1)
    run.cases = tuple(replace(c, language="en") for c in run.cases)
    fake = FakeRay(cpus=1)
    on_ray(run, list(run.cases), run.settings, fake)
    assert hosts(fake)[0].heard == [(1, "en"), (1, "en"), (2, "en"), (3, "en")]  # the warm-up, then each
    batched = toy_run((1, 2, 3), ToyBatchEngine, warmup=1, model_options={"toy_echo": {"batch_size": 2}})
    batched.cases = tuple(replace(c, language="fr") for c in batched.cases)
    fake = FakeRay(cpus=1)
    on_ray(batched, list(batched.cases), batched.settings, fake)
    assert hosts(fake)[0].heard == [(1, "fr"), ((1, 2), "fr"), ((3,), "fr")]  # one case alone, then batches


def test_with_audio_by_path_the_actor_reads_each_case_itself():
    here, there = toy_run(), toy_run(ray_audio="path")
    fake = FakeRay(cpus=1)
    on_ray(here, list(here.cases), here.settings, FakeRay(cpus=1))
    on_ray(there, list(there.cases), there.settings, fake)
    assert all(args[1] is None for args in fake.actors[0].sent)  # no audio travels
    assert [r.raw_hypothesis for r in there.results.values()] == [
        r.raw_hypothesis for r in here.results.values()
    ]
    assert there.results["c3"].raw_hypothesis == "word 3"  # read at the engine's rate
    batched = toy_run(
        (1, 2, 3), ToyBatchEngine, ray_audio="path", model_options={"toy_echo": {"batch_size": 2}}
    )
    fake = FakeRay(cpus=1)
    on_ray(batched, list(batched.cases), batched.settings, fake)
    assert fake.actors[0].sent[0][1] == [None, None] and batched.results["c2"].raw_hypothesis.startswith(
        "word 2 "
    )


def test_an_actor_that_cannot_load_the_model_is_refused_in_one_line_and_the_others_measure():
    run, fake = toy_run(), FakeRay(cpus=2, load_fails={1})
    outcome = on_ray(run, list(run.cases), run.settings, fake)
    assert outcome.refused == ["actor 1 refused: cannot load toy_echo there: RuntimeError: no weights here"]
    assert len(run.results) == 5 and 1 in fake.killed and outcome.nodes == 1


def test_an_actor_lost_before_it_was_ready_leaves_its_work_to_the_others():
    run, fake = toy_run(), FakeRay(cpus=2, dead_on_arrival={0})
    outcome = on_ray(run, list(run.cases), run.settings, fake)
    assert outcome.died == ["ActorDied"] and len(run.results) == 5 and outcome.sent_again == 0


def test_a_lost_object_sends_the_case_again_and_keeps_its_actor():
    run, fake = toy_run(), FakeRay(cpus=1, objects_lost={"c2": 1})
    outcome = on_ray(run, list(run.cases), run.settings, fake)
    assert len(run.results) == 5 and outcome.sent_again == 1 and not outcome.died and fake.killed == [0]


def test_each_actor_holds_at_most_two_sends_at_a_time():
    fake = FakeRay(cpus=1)
    run = toy_run()
    on_ray(run, list(run.cases), run.settings, fake)
    assert fake.most_in_flight == ray_pass.IN_FLIGHT == 2


def test_a_case_whose_scoring_fails_here_is_its_error_and_not_counted():
    run = toy_run((1, 2, 3))
    scored = run._scored

    def failing(case: Case, text: str, timing: Any) -> Any:
        if case.id == "c2":
            run.errors[case.id] = "word timestamps: ValueError: no words"
            raise ValueError("no words")
        return scored(case, text, timing)

    run._scored = failing  # type: ignore[method-assign]
    outcome = on_ray(run, list(run.cases), run.settings, FakeRay(cpus=1))
    assert outcome.failed == {"c2": "word timestamps: ValueError: no words"} and outcome.cases == 2


def test_the_results_are_kept_in_manifest_order_whichever_actor_finished_first():
    run = toy_run((9, 10, 1, 22), model_options={})
    on_ray(run, list(run.cases), run.settings, FakeRay(cpus=2, dies_after={0: 1}))
    assert list(run.results) == ["c9", "c10", "c1", "c22"]


def test_the_lost_line_names_twenty_cases_at_most_and_why_the_first_was_lost():
    outcome = RayOutcome("a:1")
    outcome.lost = {f"c{i:02d}": "no actor left" for i in range(20)}
    line = outcome.lost_line("m on cpu")
    assert line == (
        f"speechlab: 20 case(s) of m on cpu lost on the Ray cluster, not judged: "
        f"{', '.join(f'c{i:02d}' for i in range(20))} (no actor left); the run fails"
    )
    outcome.lost["c20"] = "sent 3 times"
    assert ", c19, ... (no actor left); the run fails" in outcome.lost_line("m on cpu")
    assert "c20" not in outcome.lost_line("m on cpu")


def test_a_case_that_cannot_be_finished_is_lost_after_three_sends_saying_why():
    run = toy_run((1, 2))
    outcome = on_ray(run, list(run.cases), run.settings, FakeRay(cpus=1, objects_lost={"c1": 5}))
    assert outcome.lost == {"c1": "sent 3 times, RayError on node 10.0.0.0 node0: cpu"} and list(
        run.results
    ) == ["c2"]
    assert outcome.problem(run.label, "c1") == f"c1: lost on the Ray cluster ({outcome.lost['c1']})"


def test_nothing_lost_leaves_the_corpus_tests_nothing_to_say():
    run = toy_run()
    outcome = on_ray(run, list(run.cases), run.settings, FakeRay(cpus=2))
    assert outcome.problem(run.label, None) is None and outcome.problem(run.label, "c1") is None


def test_the_cluster_record_says_how_the_pass_ran():
    run = toy_run((1, 2, 3), ray_audio="path")
    outcome = on_ray(run, list(run.cases), run.settings, FakeRay(cpus=2, objects_lost={"c2": 1}))
    record = outcome.as_dict()
    assert 0 < record.pop("seconds") < 60
    assert record == {
        "ray": "10.0.0.1:6379",
        "ray_version": "0.fake",
        "nodes": 2,
        "devices": ["node 10.0.0.0 node0: cpu", "node 10.0.0.1 node1: cpu"],
        "audio": "path",
        "latency": "here",
        "cases": 3,
        "sent_again": 1,
        "died": [],
        "refused": [],
        "lost": [],
    }


def test_an_engine_error_without_a_message_is_its_type():
    run = toy_run((14, 1))
    outcome = on_ray(run, list(run.cases), run.settings, FakeRay(cpus=1))
    assert outcome.failed == {"c14": "RuntimeError"} and run.errors == {"c14": "RuntimeError"}


def test_on_the_cluster_the_latency_subset_is_timed_case_by_case_past_one_without_a_result():
    run = toy_run((13, 2, 3), latency_tags=("t",), repeats=2, ray_latency=True, ray_audio="path")
    run.cases = tuple(replace(c, tags=("t",)) if c.id in ("c13", "c2") else c for c in run.cases)
    fake = FakeRay(cpus=1)
    outcome = on_ray(run, list(run.cases), run.settings, fake)
    assert "c13" not in run.results and run.results["c2"].repeated and not run.results["c3"].repeated
    assert len(run.results["c2"].timing.runs) == 2 and outcome.latency == "cluster"
    timed_sends = [args for args in fake.actors[0].sent if len(args) == 4]
    assert [(args[0].id, args[1], args[2], args[3]) for args in timed_sends] == [("c2", None, 2, True)]

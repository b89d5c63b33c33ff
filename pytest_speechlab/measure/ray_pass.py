"""The accuracy pass on a Ray cluster (``--speech-ray``, the ``ray`` extra).

Each actor holds one engine, loaded once (one GPU each on a run on ``cuda``, ``--speech-ray-cpus``
CPUs each otherwise); the cases go out one at a time (or, for an engine given ``batch_size``,
in batches made as a serial run makes them), as bytes through the object store or as their
path, and the transcriptions come back to this process, which scores and stores them as a
serial run does (``ModelRun._scored``): the tests then read those results, and the run is judged
here, exactly as without Ray. An actor whose model identity differs from the one loaded here (its
weights hash, its engine version) is refused, named by its node. An actor that dies (its node
lost) is not restarted, as on a fixed cluster it would wait for room that is gone: its cases are
sent again to the other actors, each case at most ``MAX_SENDS`` times; a case that cannot be
finished is recorded as lost, so that its tests and the run fail, never judged as part of a whole.

Ray is imported only when a pass runs: it is never a dependency of the plugin.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ..core.case import Case
from ..core.metrics import Timing
from ..errors import SpeechlabError
from .run import batch_share, latency_subset, timed

if TYPE_CHECKING:
    import numpy as np

    from ..core.settings import Settings
    from ..engines import Engine
    from .run import ModelRun

MAX_SENDS = 3  # a case is sent to at most this many actors before it is lost
IN_FLIGHT = 2  # sends (a case, or a batch) queued on each actor: one running, the next waiting beside it
READY_TIMEOUT_S = 600.0  # an actor not loaded by then (no room on the cluster, a slow download) is dropped
POLL_S = 0.5  # ray.wait's timeout: Ctrl-C is heard between waits
ROOM_WAIT_S = 10.0  # how long to wait for free resources on the cluster before saying there are none
INSTALL = "pip install 'pytest-speechlab[ray]'"


def check(settings: Settings, under_xdist: bool) -> None:
    """Refuse, before anything runs, what a Ray pass cannot do, in one line."""
    if not settings.ray:
        return
    if under_xdist:
        raise SpeechlabError("--speech-ray: not with pytest-xdist (-n): the cluster shares the cases out")
    if settings.ray_cpus < 1:
        raise SpeechlabError("--speech-ray-cpus: at least 1 CPU per actor")
    try:
        import ray  # noqa: F401
    except ImportError:
        raise SpeechlabError(f"--speech-ray: Ray is not installed ({INSTALL})") from None


def refusal(run: ModelRun) -> str | None:
    """Why ``run``'s accuracy pass cannot go to the cluster, or None."""
    if run.device.startswith("cuda:"):
        return f"--speech-ray: name the device cuda, not {run.device}: Ray gives each actor its own GPU"
    return None


def actor_count(available: dict[str, float], device: str, cpus: int, cases: int) -> int:
    """How many actors the cluster's free resources hold: one per GPU on ``cuda``, one per
    ``cpus`` CPUs otherwise; never more than there are cases."""
    slots = available.get("GPU", 0) if device.startswith("cuda") else available.get("CPU", 0) / cpus
    return max(0, min(int(slots), cases))


def identity_differences(here: dict[str, Any], there: dict[str, Any]) -> list[str]:
    """What differs between the model identity loaded here and an actor's, as ``key: a here, b there``."""
    keys = sorted(set(here) | set(there))
    return [f"{k}: {here.get(k)!r} here, {there.get(k)!r} there" for k in keys if here.get(k) != there.get(k)]


def actor_options(options: dict[str, Any], default_options: dict[str, Any], cpus: int) -> dict[str, Any]:
    """The engine options on an actor: an engine that takes ``cpu_threads`` and was not given any
    runs with the actor's CPUs (the node's cores are shared among its actors)."""
    if "cpu_threads" in default_options and options.get("cpu_threads") is None:
        return {**options, "cpu_threads": cpus}
    return dict(options)


class EngineHost:
    """What runs in a Ray actor: one engine, loaded once, that transcribes one case at a time.
    Plain Python (``ray.remote`` wraps it when a pass starts), so that it can be tested without Ray."""

    def __init__(
        self, engine_cls: type[Engine], source: str | None, device: str, options: dict[str, Any], warmup: int
    ) -> None:
        from ..io.devices import keep_freed_memory, one_blas_thread, passive_waiting

        passive_waiting()
        keep_freed_memory()
        self.engine = engine_cls.load(source, device, options)
        one_blas_thread()
        self.device = device
        self.warmup = warmup

    def describe(self) -> dict[str, Any]:
        """Where this actor runs and what it loaded: its node, its devices, its model identity."""
        node, address, gpus = "local", "", list[str]()
        ray = sys.modules.get("ray")
        if ray is None or not ray.is_initialized():  # not in a Ray worker (the unit tests): never start one
            return self._described(node, address, gpus)
        try:
            context = ray.get_runtime_context()
            node, address = context.get_node_id(), ray.util.get_node_ip_address()
            gpus = [str(g) for g in context.get_accelerator_ids().get("GPU", [])]
        except Exception:  # an older Ray
            pass
        return self._described(node, address, gpus)

    def _described(self, node: str, address: str, gpus: list[str]) -> dict[str, Any]:
        return {
            "node": node,
            "address": address,
            "pid": os.getpid(),
            "device": self.device,
            "gpus": gpus,
            "identity": asdict(self.engine.identity),
        }

    def transcribe(
        self, case: Case, audio: np.ndarray | None, repeats: int = 1, calibrated: bool = False
    ) -> tuple[str, Timing]:
        """The case's text and its timing (``measure.run.timed``, as a serial run times it); the
        audio read here from the case's path where none was sent."""
        if audio is None:
            from ..io.audio import case_audio

            audio = case_audio(case, self.engine.sample_rate)
        engine = self.engine
        for _ in range(self.warmup):  # the first case warms the engine up, untimed
            engine.transcribe(audio, case.language)
        self.warmup = 0
        text, timing = timed(lambda: engine.transcribe(audio, case.language), repeats, calibrated)
        return str(text), timing

    def transcribe_batch(
        self, cases: list[Case], audios: list[np.ndarray | None]
    ) -> tuple[list[str], Timing]:
        """Several cases of one language in one batch (the engine's ``transcribe_many``), timed as
        one, as a serial run's batched pass does."""
        from ..io.audio import case_audio

        rate = self.engine.sample_rate
        loaded = [a if a is not None else case_audio(c, rate) for c, a in zip(cases, audios, strict=True)]
        engine: Any = self.engine
        for _ in range(self.warmup):  # as a serial run warms up: one case, alone
            engine.transcribe(loaded[0], cases[0].language)
        self.warmup = 0
        texts, timing = timed(lambda: engine.transcribe_many(loaded, cases[0].language), 1, False)
        return [str(t) for t in texts], timing


@dataclass
class Dispatch:
    """Which cases are still to send, and how often each was sent: the pass's bookkeeping, apart
    from Ray. A case comes back (``again``) when its actor died, until ``max_sends``."""

    pending: deque[str]
    max_sends: int = MAX_SENDS
    sends: dict[str, int] = field(default_factory=dict)
    lost: dict[str, str] = field(default_factory=dict)  # case id -> why

    def take(self, limit: int = 1, together: Callable[[str], object] = lambda _: None) -> list[str]:
        """Up to ``limit`` cases for one send: the first pending and, in order, the next pending
        ones that may share its batch (``together`` alike: a serial run's batch); [] when none."""
        if not self.pending:
            return []
        taken, passed = [self.pending.popleft()], list[str]()
        while self.pending and len(taken) < limit:
            case_id = self.pending.popleft()
            (taken if together(case_id) == together(taken[0]) else passed).append(case_id)
        self.pending.extendleft(reversed(passed))
        for case_id in taken:
            self.sends[case_id] = self.sends.get(case_id, 0) + 1
        return taken

    def again(self, case_id: str, why: str) -> bool:
        """Send ``case_id`` again, first; False (and lost) once it was sent ``max_sends`` times."""
        if self.sends.get(case_id, 0) >= self.max_sends:
            self.lost[case_id] = f"sent {self.sends[case_id]} times, {why}"
            return False
        self.pending.appendleft(case_id)
        return True

    def abandon(self, why: str) -> None:
        """Nothing left to send them to: every case still pending is lost."""
        while self.pending:
            self.lost[self.pending.popleft()] = why

    @property
    def sent_again(self) -> int:
        return sum(n - 1 for n in self.sends.values())


@dataclass
class RayOutcome:
    """What a pass on the cluster did, for the summary, the results file and the history."""

    address: str
    ray_version: str = ""
    actors: list[dict[str, Any]] = field(default_factory=list)  # describe() of each actor that measured
    audio: str = "bytes"
    latency: str = "here"  # where the latency subset is timed: here, or on the cluster
    cases: int = 0  # cases measured on the cluster
    seconds: float = 0.0
    sent_again: int = 0
    died: list[str] = field(default_factory=list)  # actors lost mid-run, by node
    refused: list[str] = field(default_factory=list)  # one line per refused actor
    lost: dict[str, str] = field(default_factory=dict)  # case id -> why it was not finished
    failed: dict[str, str] = field(default_factory=dict)  # case id -> the engine's error there

    @property
    def nodes(self) -> int:
        return len({a["node"] for a in self.actors})

    def devices(self) -> list[str]:
        return [_where(a) for a in self.actors]

    def lost_line(self, label: str) -> str:
        """The one line that says which cases were not finished."""
        shown = ", ".join(sorted(self.lost)[:20]) + (", ..." if len(self.lost) > 20 else "")
        why = next(iter(self.lost.values()), "")
        return (
            f"speechlab: {len(self.lost)} case(s) of {label} lost on the Ray cluster, not judged: {shown} "
            f"({why}); the run fails"
        )

    def problem(self, label: str, case_id: str | None) -> str | None:
        """Why a test of ``case_id`` (None: a test of the whole corpus) cannot be judged, or None."""
        if case_id is None:
            return self.lost_line(label) if self.lost else None
        if case_id in self.lost:
            return f"{case_id}: lost on the Ray cluster ({self.lost[case_id]})"
        return self.failed.get(case_id)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ray": self.address,
            "ray_version": self.ray_version,
            "nodes": self.nodes,
            "devices": self.devices(),
            "audio": self.audio,
            "latency": self.latency,
            "cases": self.cases,
            "seconds": round(self.seconds, 3),
            "sent_again": self.sent_again,
            "died": self.died,
            "refused": self.refused,
            "lost": sorted(self.lost),
        }


def _where(actor: dict[str, Any]) -> str:
    gpus = f" GPU {','.join(actor['gpus'])}" if actor.get("gpus") else ""
    return f"node {actor['address']} {str(actor['node'])[:8]}: {actor['device']}{gpus}"


def _ray() -> Any:
    import ray

    return ray


def answers(address: str, timeout_s: float = 10.0) -> None:
    """Refuse at once an address where nothing listens: Ray itself retries for minutes."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if address == "auto" or not sep or not port.isdigit():
        return  # auto: Ray finds this machine's cluster, or says there is none
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise SpeechlabError(
            f"--speech-ray={address}: cannot join the cluster: nothing answers there ({why})"
        ) from None


def _connect(ray: Any, address: str) -> bool:
    """Join the cluster at ``address`` (``auto``: the one this machine belongs to); True when
    this call connected (and so disconnects at the end)."""
    if ray.is_initialized():
        return False
    answers(address)
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    except Exception as exc:
        said = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise SpeechlabError(f"--speech-ray={address}: cannot join the cluster: {said}") from None
    return True


def on_ray(run: ModelRun, cases: list[Case], settings: Settings, ray: Any = None) -> RayOutcome:
    """Transcribe ``cases`` of ``run`` on the cluster and store each result in ``run`` (the
    latency subset too with ``--speech-ray-latency``). ``run``'s engine is loaded here already:
    its identity is what every actor's must be."""
    problem = refusal(run)
    if problem:
        raise SpeechlabError(problem)
    run.engine  # noqa: B018 - loaded here first: its identity is what every actor's must be
    ray = ray or _ray()
    outcome = RayOutcome(
        str(settings.ray),
        ray_version=str(getattr(ray, "__version__", "")),
        audio=settings.ray_audio,
        latency="cluster" if settings.ray_latency else "here",
    )
    owned = _connect(ray, str(settings.ray))
    start = time.perf_counter()
    try:
        Pass(ray, run, cases, settings, outcome).go()
    finally:
        outcome.seconds = time.perf_counter() - start
        if owned:
            ray.shutdown()
    return outcome


class Pass:
    """One run's cases through its actors: started, checked, fed, and killed at the end."""

    def __init__(
        self, ray: Any, run: ModelRun, cases: list[Case], settings: Settings, outcome: RayOutcome
    ) -> None:
        self.ray, self.run, self.settings, self.outcome = ray, run, settings, outcome
        self.cases = {c.id: c for c in cases}
        self.dispatch = Dispatch(deque(c.id for c in cases if c.id not in run.results))
        self.here = asdict(run.identity) if run.identity else {}
        self.actors: dict[int, Any] = {}  # index -> handle, while it lives
        self.live: dict[int, dict[str, Any]] = {}  # index -> describe(), once checked
        self.waiting: dict[Any, tuple[int, tuple[str, ...]]] = {}  # ref -> (actor, case ids; none: loading)
        batch = int(run.options.get("batch_size", 1) or 1)
        self.batch = batch if hasattr(run.engine_cls, "transcribe_many") else 1  # as ModelRun.measure
        self.started: float = 0.0

    def go(self) -> None:
        try:
            self._start()
            self._loop()
            if self.settings.ray_latency:
                self._time_latency()
        except KeyboardInterrupt:
            for ref in self.waiting:  # the remote work, cancelled; the actors killed below
                try:
                    self.ray.cancel(ref)
                except Exception:
                    pass
            raise
        finally:
            for actor in self.actors.values():
                try:
                    self.ray.kill(actor)
                except Exception:
                    pass
            self._in_manifest_order()
            self.outcome.sent_again = self.dispatch.sent_again
            self.outcome.lost = dict(self.dispatch.lost)
            for case_id, why in self.dispatch.lost.items():
                self.run.errors[case_id] = f"lost on the Ray cluster ({why})"

    def _in_manifest_order(self) -> None:
        """The results as a serial run holds them, whichever actor finished first."""
        position = {c.id: i for i, c in enumerate(self.run.cases)}
        ordered = sorted(self.run.results.items(), key=lambda item: position.get(item[0], len(position)))
        self.run.results.clear()
        self.run.results.update(ordered)

    def _start(self) -> None:
        cpus = self.settings.ray_cpus
        gpu = self.run.device.startswith("cuda")
        count, until = 0, time.monotonic() + ROOM_WAIT_S
        while self.dispatch.pending:  # a pass that just ended may still be freeing its actors' room
            free = self.ray.available_resources()
            count = actor_count(free, self.run.device, cpus, len(self.dispatch.pending))
            if count or time.monotonic() > until:
                break
            time.sleep(POLL_S)
        if not count and self.dispatch.pending:
            room = "a free GPU" if gpu else f"{cpus} free CPU(s)"
            where = f"--speech-ray={self.outcome.address}"
            raise SpeechlabError(f"{where}: no actor fits: the cluster has not {room} for {self.run.label}")
        remote = self.ray.remote(EngineHost).options(
            num_cpus=0 if gpu else cpus,
            num_gpus=1 if gpu else 0,
            max_restarts=0,  # a lost actor's cases go to the others (see the module's docstring)
            max_task_retries=0,
            scheduling_strategy="SPREAD",
        )
        run = self.run
        options = actor_options(run.options, run.engine_cls.default_options, cpus)
        source = run.settings.sources.get(run.name)
        for i in range(count):
            self.actors[i] = remote.remote(run.engine_cls, source, run.device, options, run.settings.warmup)
            self.waiting[self.actors[i].describe.remote()] = (i, ())
        self.started = time.monotonic()

    def _loop(self) -> None:
        ray = self.ray
        while self.waiting:
            done, _ = ray.wait(list(self.waiting), num_returns=1, timeout=POLL_S)
            for ref in done:
                index, sent = self.waiting.pop(ref)
                try:
                    value = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:  # raised in the engine (or its load)
                    self._failed(index, sent, exc)
                except ray.exceptions.RayError as exc:  # the actor, its node or an object lost
                    self._fault(index, sent, exc)
                else:
                    if not sent:
                        self._ready(index, value)
                    elif self.batch > 1:
                        texts, timing = value
                        share = batch_share(timing, len(sent))
                        for case_id, text in zip(sent, texts, strict=True):
                            self._store(self.cases[case_id], text, share)
                    else:
                        self._store(self.cases[sent[0]], *value)
                if index in self.actors:
                    self._feed(index)
            if time.monotonic() - self.started > READY_TIMEOUT_S:
                self._drop_unloaded()
            if not self.live and not self._loading() and self.dispatch.pending:
                self.dispatch.abandon("no actor left on the cluster to send it to")
        self.dispatch.abandon("no actor left on the cluster to send it to")  # pending, nothing in flight

    def _loading(self) -> list[int]:
        return [i for i, sent in self.waiting.values() if not sent]

    def _ready(self, index: int, info: dict[str, Any]) -> None:
        """An actor loaded: used if its model is the one loaded here, else refused and killed."""
        differences = identity_differences(self.here, info["identity"])
        if differences:
            self._refuse(index, f"{_where(info)} refused: its model differs: {'; '.join(differences)}")
            return
        self.live[index] = info
        self.outcome.actors.append(info)

    def _refuse(self, index: int, line: str) -> None:
        self.outcome.refused.append(line)
        self.ray.kill(self.actors.pop(index))

    def _drop_unloaded(self) -> None:
        for ref, (index, sent) in list(self.waiting.items()):
            if not sent:
                del self.waiting[ref]
                self._refuse(index, f"actor {index} not loaded within {READY_TIMEOUT_S:.0f} s (no room?)")

    def _feed(self, index: int) -> None:
        """Keep ``IN_FLIGHT`` sends (a case, or a batch) queued on a live actor."""
        if index not in self.live:
            return
        queued = sum(1 for i, sent in self.waiting.values() if i == index and sent)
        for _ in range(IN_FLIGHT - queued):
            sent = self.dispatch.take(self.batch, lambda case_id: self.cases[case_id].language)
            if not sent:
                return
            cases = [self.cases[case_id] for case_id in sent]
            audios = [
                None if self.settings.ray_audio == "path" else self.run.audio.get(c, self._rate())
                for c in cases
            ]
            actor = self.actors[index]
            if self.batch > 1:
                ref = actor.transcribe_batch.remote(cases, audios)
            else:
                ref = actor.transcribe.remote(cases[0], audios[0])
            self.waiting[ref] = (index, tuple(sent))

    def _rate(self) -> int:
        return int(self.run.engine_cls.sample_rate)

    def _store(self, case: Case, text: str, timing: Timing) -> None:
        """As a serial run stores a transcription (its word timestamps measured here, as there)."""
        if case.id in self.run.results:  # measured already: the first result is judged
            return
        try:
            self.run.results[case.id] = self.run._scored(case, text, timing)
        except Exception as exc:  # recorded against the case by the run
            self.outcome.failed[case.id] = self.run.errors.get(case.id, f"{type(exc).__name__}: {exc}")
            return
        self.outcome.cases += 1

    def _failed(self, index: int, sent: tuple[str, ...], exc: Exception) -> None:
        cause = getattr(exc, "cause", None) or exc
        said = next((line.strip() for line in str(cause).splitlines() if line.strip()), "")
        message = f"{type(cause).__name__}: {said}".rstrip(": ")
        if not sent:  # the model did not load there
            self._refuse(index, f"actor {index} refused: cannot load {self.run.name} there: {message}")
            return
        for case_id in sent:  # a batch fails whole, as in a serial run
            self.run.errors[case_id] = message
            self.outcome.failed[case_id] = message

    def _fault(self, index: int, sent: tuple[str, ...], exc: Exception) -> None:
        """The actor or its node is gone (or an object was lost): its work goes to the others."""
        said = type(exc).__name__ + (f" on {_where(self.live[index])}" if index in self.live else "")
        if isinstance(exc, self.ray.exceptions.RayActorError) and index in self.actors:
            self.outcome.died.append(said)
            self.live.pop(index, None)
            self.ray.kill(self.actors.pop(index))
            for ref, (i, other) in list(self.waiting.items()):  # its other queued cases
                if i == index:
                    del self.waiting[ref]
                    self._again(other, said)
        self._again(sent, said)
        for live in list(self.live):
            self._feed(live)

    def _again(self, sent: tuple[str, ...], why: str) -> None:
        """A send's cases back first in line, in their order (a batch is made again as it was)."""
        for case_id in reversed(sent):
            self.dispatch.again(case_id, why)

    def _time_latency(self) -> None:
        """``--speech-ray-latency``: the latency subset timed on one actor, the others idle."""
        if not self.live:
            return
        index = next(iter(self.live))
        actor, run = self.actors[index], self.run
        for case in latency_subset(tuple(self.cases.values()), run.settings):
            result = run.results.get(case.id)
            if result is None or result.repeated:
                continue
            audio = None if self.settings.ray_audio == "path" else run.audio.get(case, self._rate())

            def again(case: Case = case, audio: Any = audio) -> Timing:
                timing: Timing = self.ray.get(
                    actor.transcribe.remote(case, audio, run.settings.repeats, True)
                )[1]
                return timing

            result.timing = run._retimed(again(), result.stored, again)
            result.repeated = True

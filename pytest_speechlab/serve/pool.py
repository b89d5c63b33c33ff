"""Loaded models: each loaded once and kept, inference off the event loop, a bounded queue each.

A model's requests run on its own worker threads; ``queue_size`` more may wait, and beyond that
a request is refused at once (``QueueFull``, a 503 with Retry-After) rather than piling up. With
a memory budget, loading a model evicts the least recently used idle ones until the resident
memory the loaded models added fits; an evicted model loads again on its next request, and every
load checks the weights against the registry's revision.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..engines import Engine, engine_class
from ..engines.sources import loadable_source
from ..errors import SpeechlabError
from ..io.devices import one_blas_thread, parse, resolve
from ..store.registry import Entry
from .guards import identity_differences

log = logging.getLogger("speechlab.serve")

T = TypeVar("T")
THREAD_OPTIONS = ("cpu_threads",)  # adapter options that set inference threads, not results


class QueueFull(Exception):
    """The model's workers and queue are all taken; ``retry_after`` seconds is a fair wait."""

    def __init__(self, model: str, retry_after: int) -> None:
        super().__init__(f"{model}: queue full, retry in {retry_after} s")
        self.retry_after = retry_after


STREAM_AHEAD = 4  # chunks a speech stream's worker may produce ahead of the reader


class Countdown:
    """Calls ``then`` once, on the ``count``-th ``tick`` (from any thread)."""

    def __init__(self, count: int, then: Callable[[], None]) -> None:
        self.count, self.then, self.lock = count, then, threading.Lock()

    def tick(self) -> None:
        with self.lock:
            self.count -= 1
            last = self.count == 0
        if last:
            self.then()


class InferenceTimeout(Exception):
    """A request waited and ran longer than the per-request timeout."""


def available_cores() -> int:
    """CPU cores this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def resident_mb() -> float:
    """This process's resident memory in MB (Linux; 0 elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@dataclass
class Slot:
    """One served model: its registry entry, adapter, workers and queue."""

    entry: Entry
    cls: type[Engine]
    device: str
    options: dict[str, Any]
    workers: int
    queue_size: int
    executor: ThreadPoolExecutor = field(init=False)
    engine: Engine | None = None
    mb: float = 0.0
    pending: int = 0  # running plus waiting
    running: int = 0
    service_s: float = 1.0  # a running mean of one request's inference time, for Retry-After
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.executor = ThreadPoolExecutor(self.workers, thread_name_prefix=f"infer-{self.name}")

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def limit(self) -> int:
        return self.workers + self.queue_size

    @property
    def waiting(self) -> int:
        return self.pending - self.running

    def retry_after(self) -> int:
        """Seconds until a place in the queue is likely free."""
        return max(1, math.ceil(self.service_s * max(1, self.waiting + 1) / self.workers))


def thread_options(cls: type[Engine], options: dict[str, Any], threads: int) -> dict[str, Any]:
    """``options`` with the adapter's thread count set to ``threads`` (where it has one)."""
    return {**options, **{k: threads for k in THREAD_OPTIONS if k in cls.default_options}}


class Pool:
    """The served models by name; loading, eviction and the queues."""

    def __init__(
        self,
        entries: list[Entry],
        *,
        device: str = "auto",
        workers: int = 1,
        queue_size: int = 8,
        memory_mb: float | None = None,
        threads: int | None = None,
        adapters: dict[str, type[Engine]] | None = None,
        on_change: Callable[[Slot], None] | None = None,
        allow_identity_change: bool = False,
    ) -> None:
        self.memory_mb = memory_mb
        self.on_change = on_change or (lambda slot: None)
        self.allow_identity_change = allow_identity_change
        self._load_lock = threading.Lock()
        self._lru: OrderedDict[str, Slot] = OrderedDict()  # loaded models, least recently used first
        self.threads = threads or max(1, available_cores() // workers)
        self.slots: dict[str, Slot] = {}
        for entry in entries:
            cls = engine_class(entry.name, adapters)
            unknown = set(entry.options) - set(cls.default_options)
            if unknown:
                raise SpeechlabError(
                    f"{entry.name}: the registry's options {', '.join(sorted(unknown))} are not "
                    f"options of its adapter"
                )
            dev, why = resolve(parse(device), cls.unavailable)[0]
            if why:
                raise SpeechlabError(f"{entry.name}: {why}")
            options = thread_options(cls, {**cls.default_options, **entry.options}, self.threads)
            self.slots[entry.name] = Slot(entry, cls, dev, options, workers, queue_size)

    def load_all(self) -> None:
        """Load (and check) every model once, in order: the server is ready after this."""
        for slot in self.slots.values():
            self._engine(slot)

    @property
    def loaded(self) -> list[str]:
        return list(self._lru)

    def _engine(self, slot: Slot) -> Engine:
        """The slot's engine, loaded (and checked) if it is not; marks it most recently used."""
        with self._load_lock:
            if slot.engine is None:
                slot.engine, slot.mb = self._load(slot)
                self._lru[slot.name] = slot
                self._evict(keep=slot.name)
                self.on_change(slot)
            self._lru.move_to_end(slot.name)
            return slot.engine

    def _load(self, slot: Slot) -> tuple[Engine, float]:
        entry = slot.entry
        if not entry.revision:
            raise SpeechlabError(
                f"{entry.name}: the registry records no revision; promote it through the gate"
            )
        before = resident_mb()
        engine = slot.cls.load(loadable_source(entry.source) or None, slot.device, slot.options)
        found = engine.identity.revision
        if found != entry.revision:
            raise SpeechlabError(
                f"{entry.name}: the loaded weights are {found}, not the registry's revision {entry.revision}"
            )
        differences, unchecked = identity_differences(entry, asdict(engine.identity), slot.device)
        if differences and not self.allow_identity_change:
            raise SpeechlabError(
                f"{entry.name}: loaded unlike its last promotion ({'; '.join(differences)}); promote it as "
                "it is served, or allow it explicitly with --allow-identity-change"
            )
        if differences:
            log.warning(
                json.dumps(
                    {"event": "identity_change_allowed", "model": entry.name, "differences": differences}
                )
            )
        if unchecked:
            why = "its last promotion predates the record of the gated identity"
            record = {"event": "identity_unchecked", "model": entry.name, "unchecked": unchecked, "why": why}
            log.warning(json.dumps(record))
        _set_torch_threads(self.threads)
        one_blas_thread()
        return engine, max(0.0, resident_mb() - before)

    def _evict(self, keep: str) -> None:
        """Unload least recently used idle models while the loaded ones exceed the budget."""
        if self.memory_mb is None:
            return
        for name in list(self._lru):
            if sum(s.mb for s in self._lru.values()) <= self.memory_mb:
                return
            slot = self._lru[name]
            if name == keep or slot.pending:
                continue
            del self._lru[name]
            slot.engine = None
            gc.collect()
            self.on_change(slot)

    def _admit(self, slot: Slot) -> None:
        with slot.lock:
            if slot.pending >= slot.limit:
                raise QueueFull(slot.name, slot.retry_after())
            slot.pending += 1
        self.on_change(slot)

    def _job(self, slot: Slot, work: Callable[[Engine], T]) -> T:
        with slot.lock:
            slot.running += 1
        self.on_change(slot)
        start = time.perf_counter()
        try:
            return work(self._engine(slot))
        finally:
            elapsed = time.perf_counter() - start
            with slot.lock:
                slot.running -= 1
                slot.service_s = 0.8 * slot.service_s + 0.2 * elapsed

    def _release(self, slot: Slot) -> None:
        with slot.lock:
            slot.pending -= 1
        self.on_change(slot)

    async def run(self, name: str, work: Callable[[Engine], T], timeout: float) -> T:
        """``work(engine)`` on the model's workers; QueueFull at once when its queue is full,
        InferenceTimeout after ``timeout`` seconds (a job that has not started is dropped)."""
        slot = self.slots[name]
        self._admit(slot)
        future = slot.executor.submit(self._job, slot, work)
        future.add_done_callback(lambda _: self._release(slot))
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except TimeoutError:
            raise InferenceTimeout(f"{name}: no answer within {timeout:g} s") from None

    async def stream(
        self, name: str, work: Callable[[Engine], Iterator[np.ndarray]], timeout: float
    ) -> AsyncGenerator[np.ndarray, None]:
        """The chunks ``work(engine)`` yields, as the worker produces them, at most
        ``STREAM_AHEAD`` ahead of the reader: a slow reader slows the worker down rather than
        filling memory. The request keeps its place in the model's queue until both the worker
        and the reader are done, and ``timeout`` counts the worker's synthesis, not the reader's
        pace."""
        slot = self.slots[name]
        self._admit(slot)
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[Any] = asyncio.Queue()
        room = threading.Semaphore(STREAM_AHEAD)  # chunks the reader has not taken yet, at most
        stop = threading.Event()
        done = object()
        ends = Countdown(2, lambda: self._release(slot))  # the worker's end and the reader's

        def put(item: Any) -> bool:
            while not room.acquire(timeout=0.1):
                if stop.is_set():
                    return False
            loop.call_soon_threadsafe(chunks.put_nowait, item)
            return True

        def produce(engine: Engine) -> None:
            spent = 0.0
            try:
                produced = iter(work(engine))
                while not stop.is_set():
                    start = time.perf_counter()
                    chunk = next(produced, done)
                    spent += time.perf_counter() - start
                    if spent > timeout:
                        put(InferenceTimeout(f"{name}: synthesis took over {timeout:g} s"))
                        return
                    if not put(chunk) or chunk is done:
                        return
            except Exception as exc:
                put(exc)

        future: Future[None] = slot.executor.submit(self._job, slot, produce)
        future.add_done_callback(lambda _: ends.tick())
        try:
            while True:
                try:  # a bound for an engine that hangs inside one chunk
                    item = await asyncio.wait_for(chunks.get(), timeout)
                except TimeoutError:
                    raise InferenceTimeout(f"{name}: no audio for {timeout:g} s") from None
                room.release()
                if item is done:
                    return
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            stop.set()
            future.cancel()
            ends.tick()

    def close(self) -> None:
        """Wait for running and queued work, then stop the workers."""
        for slot in self.slots.values():
            slot.executor.shutdown(wait=True)


def _set_torch_threads(threads: int) -> None:
    """torch keeps one global intra-op pool: size it like the other engines' threads."""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)

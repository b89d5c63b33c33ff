"""Prometheus metrics of one server (``GET /metrics``), in a registry of its own."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from .pool import Slot

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
RTF_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)


class Metrics:
    def __init__(self) -> None:
        disable_created_metrics()  # the *_created series only repeat the start time
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "speechlab_requests", "Requests answered", ["model", "endpoint", "status"], registry=r
        )
        self.latency = Histogram(
            "speechlab_request_seconds",
            "Time to the whole answer",
            ["model", "endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.first_audio = Histogram(
            "speechlab_time_to_first_audio_seconds",
            "Speech: time to the first audio chunk",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.rtf = Histogram(
            "speechlab_real_time_factor",
            "Inference seconds per second of audio",
            ["model", "endpoint"],
            buckets=RTF_BUCKETS,
            registry=r,
        )
        self.queue = Gauge("speechlab_queue_depth", "Requests waiting for a worker", ["model"], registry=r)
        self.inference = Gauge(
            "speechlab_inference_in_flight", "Requests being inferred", ["model"], registry=r
        )
        self.in_flight = Gauge("speechlab_http_in_flight", "HTTP requests being handled", registry=r)
        self.loaded = Gauge("speechlab_model_loaded", "1 while the model is loaded", ["model"], registry=r)
        self.rejections = Counter(
            "speechlab_rejections", "Requests refused, by reason", ["reason"], registry=r
        )

    def slot_changed(self, slot: Slot) -> None:
        self.queue.labels(slot.name).set(slot.waiting)
        self.inference.labels(slot.name).set(slot.running)
        self.loaded.labels(slot.name).set(1 if slot.engine is not None else 0)

    def render(self) -> bytes:
        return generate_latest(self.registry)

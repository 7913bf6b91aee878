"""Prometheus metrics of one serving app, in its own ``CollectorRegistry`` (never the global one).

Every series carries ``version`` (the model version that answered, or ``-`` before routing):

- ``shipyard_serving_requests_total{version,status}``: answered requests by HTTP status;
- ``shipyard_serving_errors_total{version,kind}``: ``invalid_input``, ``overloaded``, ``timeout``,
  ``model_error``, ``shadow_error``;
- ``shipyard_serving_request_latency_seconds{version}``: time from request to response;
- ``shipyard_serving_batch_rows{version}`` / ``shipyard_serving_batch_requests{version}``: rows and
  requests per model call (micro-batches);
- ``shipyard_serving_queue_depth{version}``: requests waiting for the model;
- ``shipyard_serving_prediction_log_dropped_total{reason}``: prediction-log records lost
  (``queue_full`` or ``write_failed``); ``shipyard_serving_prediction_log_written_total``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


class ServingMetrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry: CollectorRegistry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        p = "shipyard_serving_"
        self.requests: Counter = Counter(
            p + "requests", "Answered requests.", ["version", "status"], registry=reg
        )
        self.errors: Counter = Counter(
            p + "errors", "Failed requests by kind.", ["version", "kind"], registry=reg
        )
        self.latency: Histogram = Histogram(
            p + "request_latency_seconds",
            "Request latency.",
            ["version"],
            buckets=_LATENCY_BUCKETS,
            registry=reg,
        )
        self.batch_rows: Histogram = Histogram(
            p + "batch_rows", "Rows per model call.", ["version"], buckets=_BATCH_BUCKETS, registry=reg
        )
        self.batch_requests: Histogram = Histogram(
            p + "batch_requests",
            "Requests per model call.",
            ["version"],
            buckets=_BATCH_BUCKETS,
            registry=reg,
        )
        self.queue_depth: Gauge = Gauge(p + "queue_depth", "Requests waiting.", ["version"], registry=reg)
        self.log_dropped: Counter = Counter(
            p + "prediction_log_dropped", "Prediction-log records lost.", ["reason"], registry=reg
        )
        self.log_written: Counter = Counter(
            p + "prediction_log_written", "Prediction-log records written.", registry=reg
        )
        self.log_dropped.labels("queue_full")
        self.log_dropped.labels("write_failed")

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST

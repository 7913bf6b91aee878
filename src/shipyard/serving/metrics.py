"""Prometheus metrics of one serving app, in its own ``CollectorRegistry`` (never the global one).

Every series carries ``version`` (the model version that answered, or ``-`` before routing):

- ``shipyard_serving_requests_total{version,status}``: answered requests by HTTP status;
- ``shipyard_serving_errors_total{version,kind}``: ``invalid_input``, ``overloaded``, ``timeout``,
  ``model_error``, ``shadow_error``;
- ``shipyard_serving_request_latency_seconds{version}``: time from request to response;
- ``shipyard_serving_batch_rows{version}`` / ``shipyard_serving_batch_requests{version}``: rows and
  requests per model call (micro-batches);
- ``shipyard_serving_queue_depth{version}``: requests waiting for the model;
- ``shipyard_serving_in_flight``: requests past the admission gate and not yet answered;
  ``shipyard_serving_admission_limit``: how many it admits at once now (it adapts);
- ``shipyard_serving_rejected_total{reason,status}``: requests refused before the model saw them,
  by error code and HTTP status (``overloaded``/503 at the admission gate or a full queue,
  ``unauthenticated``/401, ``permission_denied``/403, ``too_many_requests``/429,
  ``payload_too_large``/413, ``unsupported_media_type``/415, ``misdirected_request``/421,
  ``not_ready``/503, ``auth_unavailable``/503). The labels are fixed codes, never request data;
- ``shipyard_serving_prediction_log_dropped_total{reason}``: prediction-log records lost
  (``queue_full`` or ``write_failed``); ``shipyard_serving_prediction_log_written_total``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
REJECTIONS = (
    ("overloaded", 503),
    ("not_ready", 503),
    ("auth_unavailable", 503),
    ("unauthenticated", 401),
    ("permission_denied", 403),
    ("too_many_requests", 429),
    ("payload_too_large", 413),
    ("unsupported_media_type", 415),
    ("misdirected_request", 421),
)


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
        self.in_flight: Gauge = Gauge(p + "in_flight", "Requests admitted, not yet answered.", registry=reg)
        self.admission_limit: Gauge = Gauge(
            p + "admission_limit", "Requests admitted at once now (adaptive).", registry=reg
        )
        self.rejected: Counter = Counter(
            p + "rejected", "Requests refused before the model.", ["reason", "status"], registry=reg
        )
        for reason, status in REJECTIONS:  # present from the start, so a rate() has a zero to begin at
            self.rejected.labels(reason, str(status))
        self.log_dropped.labels("queue_full")
        self.log_dropped.labels("write_failed")

    def reject(self, reason: str, status: int) -> None:
        """Count a refused request (``reason`` is one of :data:`REJECTIONS`' codes)."""
        self.rejected.labels(reason, str(status)).inc()

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST

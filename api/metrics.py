"""Prometheus metrics: request counts and latency per route, inference time, queue depth.

Each app gets its own registry, so tests (and several apps in one process) never share or
double-register a metric.
"""

import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ml.inference import Classifier, Prediction

# Routes with this OpenAPI tag classify images; requests on them count towards queue depth.
CLASSIFICATION_TAG = "classification"
# Paths no route matches are one label value, so scanners cannot grow the label set.
UNMATCHED_ROUTE = "unmatched"
INFERENCE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "medimg_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "medimg_http_request_duration_seconds",
            "Time from request to the end of the response, by route template and method.",
            ["route", "method"],
            registry=self.registry,
        )
        self.inference_seconds = Histogram(
            "medimg_inference_duration_seconds",
            "Time the model took for one classification call (one image or a batch).",
            buckets=INFERENCE_BUCKETS,
            registry=self.registry,
        )
        self.anonymous_refusals_unrecorded = Counter(
            "medimg_audit_anonymous_refusals_unrecorded",
            "Requests without a valid key counted here instead of in the audit trail: past "
            "the first from their address in a minute (api/audit.py).",
            registry=self.registry,
        )
        self.classifications_in_progress = Gauge(
            "medimg_classifications_in_progress",
            "Classification requests received and not yet answered (the queue depth).",
            registry=self.registry,
        )
        self.dicom_instances = Counter(
            "medimg_dicom_instances",
            "Instances the DICOM listener stored (`stored`: a new record; `existing`: its "
            "SOP Instance had one already).",
            ["outcome"],
            registry=self.registry,
        )
        self.dicom_refusals = Counter(
            "medimg_dicom_refused_instances",
            "Instances the DICOM listener refused with a failure status, by reason (not an "
            "image, not an MR of the brain, too large, undecodable, busy, failed).",
            ["reason"],
            registry=self.registry,
        )
        self.dicom_result_sends = Counter(
            "medimg_dicom_result_sends",
            "Completed studies whose SR and heatmap the listener sent by C-STORE, by outcome "
            "(`sent`, or `failed` for one try that the destination refused or never took).",
            ["outcome"],
            registry=self.registry,
        )
        self.review_result_pushes = Counter(
            "medimg_review_result_pushes",
            "Reviewed SR revisions pushed where their record came from, after the review, by "
            "destination (`pacs`: STOW-RS; `dicom`: C-STORE) and outcome (`pushed`, `failed`).",
            ["destination", "outcome"],
            registry=self.registry,
        )


class TimedClassifier:
    """The classifier, with every inference timed into the metrics."""

    def __init__(self, classifier: Classifier, metrics: Metrics) -> None:
        self._classifier = classifier
        self._seconds = metrics.inference_seconds

    def predict(self, pixels: np.ndarray) -> Prediction:
        with self._seconds.time():
            return self._classifier.predict(pixels)

    def predict_batch(self, images: list[np.ndarray]) -> list[Prediction]:
        with self._seconds.time():
            return self._classifier.predict_batch(images)

    def __getattr__(self, name: str) -> Any:
        # metadata, version, classes: read straight from the real classifier.
        return getattr(self._classifier, name)


class MetricsMiddleware:
    """Counts and times every HTTP request under its route template, not its raw path."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets if the app raises before answering

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_status)
        finally:
            elapsed = time.perf_counter() - started
            route, method = _route_template(scope), scope["method"]
            self.metrics.request_seconds.labels(route, method).observe(elapsed)
            self.metrics.requests.labels(route, method, str(status)).inc()


def _route_template(scope: Scope) -> str:
    # The router records the route it chose in the scope; none means no path matched.
    return getattr(scope.get("route"), "path", None) or UNMATCHED_ROUTE


async def count_classifications_in_progress(request: Request) -> AsyncIterator[None]:
    """An app-wide dependency: while a classification request is handled, the gauge is up.

    It runs once the route is known and before the request waits for a worker thread, so
    the gauge is the queue depth: requests waiting plus requests being classified.
    """
    route_tags = getattr(request.scope.get("route"), "tags", None) or []
    if CLASSIFICATION_TAG not in route_tags:
        yield
        return
    in_progress = request.app.state.metrics.classifications_in_progress
    in_progress.inc()
    try:
        yield
    finally:
        in_progress.dec()

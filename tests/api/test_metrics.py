"""GET /metrics: Prometheus text with request, latency, inference and queue metrics.

The `client` fixture carries an admin key, the only role that may scrape.
"""

from collections.abc import Callable
from concurrent.futures import Future

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.deps import get_classifier
from api.models import Role
from tests.conftest import bearer


def samples(client: TestClient) -> dict[tuple[str, frozenset], float]:
    """Every sample on /metrics, keyed by name and labels."""
    response = client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def requests_total(client: TestClient, route: str, method: str, status: str) -> float:
    labels = frozenset({"route": route, "method": method, "status": status}.items())
    return samples(client).get(("medimg_http_requests_total", labels), 0.0)


def test_metrics_are_served_in_the_prometheus_text_format(client: TestClient) -> None:
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    assert "# TYPE medimg_http_request_duration_seconds histogram" in response.text


@pytest.mark.parametrize(
    ("role", "status"),
    [(None, 401), (Role.RADIOLOGIST, 403), (Role.INTEGRATION, 403), (Role.ADMIN, 200)],
)
def test_only_an_admin_key_may_scrape_the_metrics(
    client: TestClient, make_api_key: Callable[..., str], role: Role | None, status: int
) -> None:
    client.headers.pop("Authorization")
    headers = {"Authorization": bearer(make_api_key(role))} if role else {}

    assert client.get("/metrics", headers=headers).status_code == status


def test_requests_are_counted_by_route_template_method_and_status(client: TestClient) -> None:
    for record_id in (101, 102, 103):
        client.get(f"/records/{record_id}")
    client.get("/records")

    assert requests_total(client, "/records/{record_id}", "GET", "404") == 3
    assert requests_total(client, "/records", "GET", "200") == 1


def test_paths_no_route_knows_are_counted_under_one_label(client: TestClient) -> None:
    client.get("/wp-admin")
    client.get("/.env")

    assert requests_total(client, "unmatched", "GET", "404") == 2


def test_request_latency_is_observed_per_route(client: TestClient) -> None:
    client.get("/healthz")
    client.get("/healthz")

    labels = frozenset({"route": "/healthz", "method": "GET"}.items())
    assert samples(client)[("medimg_http_request_duration_seconds_count", labels)] == 2


def test_each_classification_is_timed_as_one_inference(
    client: TestClient, png_bytes: bytes
) -> None:
    for _ in range(2):
        client.post("/classify", files={"file": ("x.png", png_bytes, "image/png")})

    assert samples(client)[("medimg_inference_duration_seconds_count", frozenset())] == 2


def test_the_queue_gauge_counts_a_classification_while_it_runs_and_drops_after(
    client: TestClient, png_bytes: bytes
) -> None:
    registry = client.app.state.metrics.registry
    real_classifier = client.app.state.classifier
    seen_during_inference = []

    class ClassifierThatLooksAtTheQueue:
        version = real_classifier.version
        density = real_classifier.density

        def submit(self, pixels: np.ndarray) -> Future:
            seen_during_inference.append(
                registry.get_sample_value("medimg_classifications_in_progress")
            )
            return real_classifier.submit(pixels)

    client.app.dependency_overrides[get_classifier] = ClassifierThatLooksAtTheQueue
    response = client.post("/classify", files={"file": ("x.png", png_bytes, "image/png")})

    assert response.status_code == 201
    assert seen_during_inference == [1.0]
    assert registry.get_sample_value("medimg_classifications_in_progress") == 0.0


def test_two_apps_keep_separate_metrics(make_client: Callable[..., TestClient]) -> None:
    counted, untouched = make_client(), make_client()

    counted.get("/records/1")

    assert requests_total(counted, "/records/{record_id}", "GET", "404") == 1
    assert requests_total(untouched, "/records/{record_id}", "GET", "404") == 0

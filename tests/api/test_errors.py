from collections.abc import Callable
from concurrent.futures import Future

import numpy as np
from fastapi.testclient import TestClient

from api.deps import get_classifier

PROBLEM_JSON = "application/problem+json"


def test_an_unknown_path_gets_a_404_problem(client: TestClient) -> None:
    response = client.get("/nowhere")

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["instance"] == "/nowhere"


def test_a_wrong_method_gets_a_405_problem_that_still_says_what_is_allowed(
    client: TestClient,
) -> None:
    response = client.delete("/records")

    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["allow"] == "GET"


def test_a_classify_request_without_a_file_lists_the_missing_field(client: TestClient) -> None:
    response = client.post("/classify", data={"not_file": "x"})

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    assert problem["title"] == "Unprocessable Entity"
    assert problem["errors"] == [
        {"type": "missing", "loc": ["body", "file"], "msg": "Field required"}
    ]


class ClassifierThatCrashes:
    version = "broken"

    def submit(self, pixels: np.ndarray) -> Future:
        crashed: Future = Future()
        crashed.set_exception(RuntimeError("model file /srv/secret/weights.h5 is corrupt"))
        return crashed


def test_an_unexpected_error_gets_a_500_problem_without_internals(
    make_client: Callable[..., TestClient], png_bytes: bytes
) -> None:
    client = make_client(raise_server_exceptions=False)
    client.app.dependency_overrides[get_classifier] = ClassifierThatCrashes

    response = client.post("/classify", files={"file": ("x.png", png_bytes, "image/png")})

    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    assert set(problem) == {"type", "title", "status", "detail", "instance"}
    assert "secret" not in response.text
    assert "RuntimeError" not in response.text


def test_an_unexpected_error_is_answered_inside_the_app_so_the_connection_is_kept(
    make_client: Callable[..., TestClient], png_bytes: bytes, spa_origin: str
) -> None:
    # This client raises any exception that leaves the app; the server closes a kept-alive
    # connection on exactly those, so none may leave it.
    client = make_client(raise_server_exceptions=True)
    client.app.dependency_overrides[get_classifier] = ClassifierThatCrashes

    response = client.post(
        "/classify",
        files={"file": ("x.png", png_bytes, "image/png")},
        headers={"Origin": spa_origin},
    )

    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM_JSON
    # Answered inside CORS, so the SPA can read the problem.
    assert response.headers["access-control-allow-origin"] == spa_origin


def test_the_openapi_documents_problem_responses_and_research_use(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()

    assert "not diagnosis" in schema["info"]["title"]
    classify_responses = schema["paths"]["/classify"]["post"]["responses"]
    assert set(classify_responses) >= {"201", "413", "415", "422"}
    for status in ("413", "415", "422"):
        assert list(classify_responses[status]["content"]) == [PROBLEM_JSON]
    record_example = schema["components"]["schemas"]["RecordPublic"]["examples"][0]
    assert record_example["label"] == "glioma"

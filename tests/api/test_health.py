from fastapi.testclient import TestClient


def test_healthz_says_ok_once_the_app_has_started(client: TestClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}

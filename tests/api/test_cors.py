import pytest
from fastapi.testclient import TestClient

OTHER_ORIGIN = "https://evil.example"


def preflight(
    client: TestClient, origin: str, method: str = "POST", headers: str = "content-type"
) -> dict[str, str]:
    response = client.options(
        "/classify",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
    )
    return {"status": response.status_code, **response.headers}


def test_a_preflight_from_the_configured_spa_origin_is_allowed(
    client: TestClient, spa_origin: str
) -> None:
    headers = preflight(client, spa_origin)

    assert headers["status"] == 200
    assert headers["access-control-allow-origin"] == spa_origin
    assert "POST" in headers["access-control-allow-methods"]
    assert "content-type" in headers["access-control-allow-headers"].lower()


def test_a_preflight_from_another_origin_is_refused(client: TestClient) -> None:
    headers = preflight(client, OTHER_ORIGIN)

    assert headers["status"] == 400
    assert "access-control-allow-origin" not in headers


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_a_preflight_for_a_method_the_api_does_not_offer_is_refused(
    client: TestClient, spa_origin: str, method: str
) -> None:
    assert preflight(client, spa_origin, method)["status"] == 400


def test_a_preflight_for_a_delete_with_a_key_and_an_idempotency_key_is_allowed(
    client: TestClient, spa_origin: str
) -> None:
    requested = "authorization,content-type,idempotency-key"

    headers = preflight(client, spa_origin, "DELETE", requested)

    assert headers["status"] == 200
    assert "DELETE" in headers["access-control-allow-methods"]
    allowed = headers["access-control-allow-headers"].lower()
    assert all(name in allowed for name in requested.split(","))


def test_a_plain_get_is_shared_only_with_the_configured_origin(
    client: TestClient, spa_origin: str
) -> None:
    allowed = client.get("/records", headers={"Origin": spa_origin})
    other = client.get("/records", headers={"Origin": OTHER_ORIGIN})

    assert allowed.headers["access-control-allow-origin"] == spa_origin
    assert "access-control-allow-origin" not in other.headers

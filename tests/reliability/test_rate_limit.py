"""The per-key rate limit on the real server: 429 with Retry-After, other keys unaffected."""

from collections.abc import Callable

import pytest

from medimg_testing.server import LiveServer

PER_MINUTE = 5


@pytest.fixture(scope="session")
def limited_server(make_server: Callable[..., LiveServer]) -> LiveServer:
    return make_server(rate_limit_per_minute=PER_MINUTE)


def test_a_key_over_its_limit_gets_429_with_retry_after_and_other_keys_do_not(
    limited_server: LiveServer,
) -> None:
    _, flooding_key = limited_server.make_key("radiologist", "flooding")
    _, other_key = limited_server.make_key("radiologist", "other")

    with limited_server.client(flooding_key) as flooding, limited_server.client(other_key) as other:
        answers = [flooding.get("/me").status_code for _ in range(PER_MINUTE)]
        refused = flooding.get("/records")
        others = [other.get("/me").status_code for _ in range(PER_MINUTE)]

    assert answers == [200] * PER_MINUTE
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "Retry after" in refused.json()["detail"]
    assert others == [200] * PER_MINUTE


def test_requests_without_a_valid_key_are_refused_by_authentication_not_counted(
    limited_server: LiveServer,
) -> None:
    with limited_server.client("mdk_not-a-key") as stranger:
        statuses = {stranger.get("/me").status_code for _ in range(PER_MINUTE + 2)}

    assert statuses == {401}

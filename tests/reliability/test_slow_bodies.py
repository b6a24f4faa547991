"""Slow bodies on the real server: a sender without a key is answered and let go at once,
however slowly its body trickles in (issue #29)."""

from medimg_testing.server import LiveServer
from medimg_testing.slow_bodies import open_slow_upload, trickle

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + bytes(2_000)
WATCHED_S = 6.0


def test_a_keyless_upload_that_trickles_gets_401_and_its_connection_closed_at_once(
    live_server: LiveServer,
) -> None:
    slow = open_slow_upload(live_server, PNG_BYTES, key=None, sent_at_once=200, declared_extra=0)
    trickle([slow], WATCHED_S)

    assert slow.status == 401
    assert slow.closed_s is not None, "the server kept the connection open for the body"
    assert slow.closed_s < WATCHED_S / 2

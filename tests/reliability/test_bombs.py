"""Resource bombs: refused fast, with flat server memory and no temporary files left."""

from collections.abc import Iterator

import httpx
import psutil
import pytest

from medimg_testing.bombs import MIB, costly_png, deflated_dicom_bomb, hundred_megapixel_png
from medimg_testing.server import LiveServer

MAX_RESPONSE_SECONDS = 1.0
MAX_RSS_GROWTH_BYTES = 100 * MIB
BOUNDARY = "reliability-bomb-boundary"


def resident_bytes(server: LiveServer) -> int:
    return psutil.Process(server.pid).memory_info().rss


def multipart_parts(data: bytes, chunk: int = MIB) -> Iterator[bytes]:
    """A multipart body streamed in chunks, so httpx sends it without a Content-Length."""
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    for start in range(0, len(data), chunk):
        yield data[start : start + chunk]
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def assert_refused_within_limits(
    server: LiveServer, response: httpx.Response, rss_before: int, statuses: set[int]
) -> None:
    assert response.status_code in statuses, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.elapsed.total_seconds() < MAX_RESPONSE_SECONDS
    assert resident_bytes(server) - rss_before < MAX_RSS_GROWTH_BYTES
    assert server.temp_files() == []
    assert [path for path in server.stored_files() if path.name.startswith(".tmp-")] == []


def legal_but_costly_dicom() -> bytes:
    """16-bit 6014×6014, under the pixel cap, inflating to what its header declares: no bomb,
    but +594 MiB to decode before the decode memory budget (issue #29)."""
    return deflated_dicom_bomb(69)


@pytest.mark.parametrize(
    ("name", "make_bomb"),
    [
        ("100-megapixels.png", hundred_megapixel_png),
        ("inflates-to-1-gib.dcm", deflated_dicom_bomb),
        # Legal but costly: under the pixel cap, refused for the memory their decode needs.
        ("rgba-16-bit-6000.png", costly_png),
        ("deflated-16-bit-6014.dcm", legal_but_costly_dicom),
    ],
)
def test_a_small_file_that_decodes_to_gigabytes_is_refused_with_flat_memory(
    live_server: LiveServer, name: str, make_bomb
) -> None:
    bomb = make_bomb()
    assert len(bomb) < 2 * MIB
    records_before = live_server.record_count()
    rss_before = resident_bytes(live_server)

    with live_server.client() as client:
        response = client.post("/classify", files={"file": (name, bomb)})

    assert_refused_within_limits(live_server, response, rss_before, {413})
    assert live_server.record_count() == records_before


def test_an_upload_twice_the_limit_with_content_length_is_refused(live_server: LiveServer) -> None:
    limit = int(live_server.settings["MEDIMG_MAX_UPLOAD_BYTES"])
    rss_before = resident_bytes(live_server)

    with live_server.client() as client:
        response = client.post("/classify", files={"file": ("big.png", bytes(2 * limit))})

    assert_refused_within_limits(live_server, response, rss_before, {413})


def test_an_upload_twice_the_limit_without_content_length_is_cut_off(
    live_server: LiveServer,
) -> None:
    limit = int(live_server.settings["MEDIMG_MAX_UPLOAD_BYTES"])
    rss_before = resident_bytes(live_server)
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}

    with live_server.client() as client:
        response = client.post(
            "/classify", content=multipart_parts(bytes(2 * limit)), headers=headers
        )

    assert "content-length" not in response.request.headers
    assert_refused_within_limits(live_server, response, rss_before, {413})

"""Every crash the fuzz corpus found, kept as a fixture: each now gets a 4xx, fast.

The fixtures are corpus files (a few KiB each) that once made the server answer 500 or
stall: the Rust RLE decoder's panic (a BaseException, not an Exception), a damaged element
pydicom only parses when de-identification walks the dataset, a non-ASCII UID that broke
the UID hash, and a PNG chunk claiming gigabytes that stalled OpenCV for seconds. A strip
of 1×1000 pixels made the model's resize fail (a TensorFlow error, 500).
"""

from pathlib import Path

import cv2
import numpy as np
import pytest

from medimg_testing.server import LiveServer

FIXTURES = Path(__file__).parent / "fixtures"
MAX_RESPONSE_SECONDS = 1.0


def thin_strip_png() -> bytes:
    ok, encoded = cv2.imencode(".png", np.full((1, 1000), 200, dtype=np.uint8))
    assert ok
    return encoded.tobytes()


CASES = {path.name: path.read_bytes() for path in sorted(FIXTURES.iterdir())}
CASES["one-by-thousand-strip.png"] = thin_strip_png()


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_file_that_once_crashed_the_server_gets_a_4xx_with_nothing_stored(
    live_server: LiveServer, name: str
) -> None:
    records_before = live_server.record_count()
    files_before = live_server.stored_files()

    with live_server.client() as client:
        response = client.post("/classify", files={"file": (name, CASES[name])})

    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"]
    assert response.elapsed.total_seconds() < MAX_RESPONSE_SECONDS
    assert live_server.record_count() == records_before
    assert live_server.stored_files() == files_before

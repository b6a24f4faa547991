"""Many uploads to a live server at once: distinct slices released together, and a corpus
of files posted from a few threads."""

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import httpx
import numpy as np

from medimg_testing.corpus import CorpusFile, synthetic_slice
from medimg_testing.server import LiveServer

# Two cores: more client threads than that only queue.
POSTING_THREADS = 3


def distinct_pngs(count: int, salt: int) -> list[bytes]:
    """`count` different PNG slices: one pixel differs from image to image."""
    images = []
    for index in range(count):
        pixels = synthetic_slice(64)
        pixels[0, :4] = np.frombuffer((salt * 100_000 + index).to_bytes(4, "big"), np.uint8)
        ok, encoded = cv2.imencode(".png", pixels)
        assert ok
        images.append(encoded.tobytes())
    return images


def post_all_at_once(server: LiveServer, images: list[bytes]) -> list[httpx.Response]:
    """Every upload in its own thread, released together, on connections of their own."""
    start = threading.Barrier(len(images))
    limits = httpx.Limits(max_connections=len(images), max_keepalive_connections=len(images))
    with server.client(limits=limits, timeout=120) as client:

        def post(image: bytes) -> httpx.Response:
            start.wait()
            return client.post("/classify", files={"file": ("slice.png", image)})

        with ThreadPoolExecutor(len(images)) as pool:
            return list(pool.map(post, images))


@dataclass(frozen=True)
class Answer:
    name: str
    status: int
    seconds: float
    body: dict


def post_corpus(
    server: LiveServer, corpus: list[CorpusFile], threads: int = POSTING_THREADS
) -> list[Answer]:
    limits = httpx.Limits(max_connections=threads)
    with server.client(limits=limits) as client:

        def post(file: CorpusFile) -> Answer:
            response = client.post("/classify", files={"file": ("upload", file.data)})
            seconds = response.elapsed.total_seconds()
            return Answer(file.name, response.status_code, seconds, response.json())

        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(post, corpus))

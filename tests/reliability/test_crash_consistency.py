"""kill -9 the real server at random moments during a stream of uploads, again and again:
after every restart the database is intact, every record's blob exists with its sha256,
every upload answered 2xx is there, and the start-up check removed the orphans."""

import hashlib
import os
import random
import threading
import time
from collections.abc import Callable

import cv2
import httpx
from sqlalchemy import text
from sqlmodel import Session, select

from api.models import Record
from tests.reliability.corpus import synthetic_slice
from tests.reliability.server import ForkServer, LiveServer

CRASH_CYCLES = int(os.environ.get("MEDIMG_TEST_CRASH_CYCLES", "30"))
# Long enough for several uploads to be in flight, short enough to hit them mid-way.
KILL_AFTER_S = (0.05, 0.6)
# The start-up check keeps orphans younger than a minute (they may be another worker's
# upload in flight); ageing the files stands in for waiting that minute.
AGE_S = 120


class UploadStream:
    """Posts distinct PNG slices one after another until the server dies."""

    def __init__(self, server: LiveServer, first_index: int) -> None:
        self.server = server
        self.index = first_index
        self.answered: dict[int, str] = {}  # record id -> sha256 of an upload answered 201
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.first_answer = threading.Event()

    def wait_for_first_answer(self) -> None:
        assert self.first_answer.wait(timeout=60), "the server answered no upload in 60 s"

    def _run(self) -> None:
        with self.server.client(timeout=10) as client:
            while True:
                image = unique_png(self.index)
                self.index += 1
                try:
                    response = client.post("/classify", files={"file": ("s.png", image)})
                except httpx.TransportError:
                    return  # killed mid-request: this upload was never acknowledged
                assert response.status_code == 201, response.text
                self.answered[response.json()["id"]] = hashlib.sha256(image).hexdigest()
                self.first_answer.set()


def unique_png(index: int) -> bytes:
    pixels = synthetic_slice(48)
    pixels[0, :4] = list(index.to_bytes(4, "big"))
    ok, encoded = cv2.imencode(".png", pixels)
    assert ok
    return encoded.tobytes()


def age_stored_files(server: LiveServer) -> None:
    old = time.time() - AGE_S
    for path in server.stored_files():
        os.utime(path, (old, old))


def stored_records(server: LiveServer) -> dict[int, str]:
    engine = server.engine()
    try:
        with Session(engine) as session:
            return dict(session.exec(select(Record.id, Record.image_sha256)).all())
    finally:
        engine.dispose()


def integrity_problems(server: LiveServer) -> list[str]:
    engine = server.engine()
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                rows = connection.execute(text("PRAGMA integrity_check")).scalars().all()
                return [] if rows == ["ok"] else rows
            # PostgreSQL is crash-safe by its WAL; reading every row proves the heap is sound.
            connection.execute(text("SELECT * FROM record")).fetchall()
            return []
    finally:
        engine.dispose()


def assert_consistent(server: LiveServer, answered: dict[int, str]) -> None:
    assert integrity_problems(server) == []
    records = stored_records(server)
    missing = {record_id for record_id in answered if records.get(record_id) != answered[record_id]}
    assert not missing, f"answered 201 but lost: {sorted(missing)}"
    files = {path.name: path for path in server.stored_files()}
    for sha256 in set(records.values()):
        assert sha256 in files, f"a record's blob {sha256} is missing"
        assert hashlib.sha256(files[sha256].read_bytes()).hexdigest() == sha256
    assert set(files) == set(records.values()), "orphan or temporary files were left behind"


def test_kill_9_during_uploads_loses_no_acknowledged_upload_and_leaves_no_orphans(
    make_server: Callable[..., LiveServer], forkserver: ForkServer
) -> None:
    server = make_server(forkserver=forkserver)
    rng = random.Random(9)
    answered: dict[int, str] = {}
    next_index = 0

    for _ in range(CRASH_CYCLES):
        stream = UploadStream(server, next_index)
        stream.thread.start()
        stream.wait_for_first_answer()  # past start-up, in the steady stream
        time.sleep(rng.uniform(*KILL_AFTER_S))
        server.kill()
        stream.thread.join(timeout=30)
        answered |= stream.answered
        next_index = stream.index
        age_stored_files(server)
        server.start()
        assert_consistent(server, answered)

    assert server.starts == CRASH_CYCLES + 1
    assert len(answered) >= CRASH_CYCLES  # each cycle had an answered upload before its kill

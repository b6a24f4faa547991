"""A stream of uploads to kill the server in, and what is left on disk and in the database
after the kill."""

import hashlib
import os
import threading
import time

import cv2
import httpx
from sqlalchemy import text
from sqlmodel import Session, select

from api.models import Record
from medimg_testing.corpus import synthetic_slice
from medimg_testing.server import LiveServer

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

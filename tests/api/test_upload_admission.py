"""Uploads spend capacity only once their sender is known, hold it only while their body
keeps arriving, and no one caller takes every slot (issue #29)."""

import asyncio
from collections.abc import Callable

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient

from api.admission import Admission
from api.routing import _receive_at_most
from api.settings import Settings


def upload(client: TestClient, png: bytes, **headers: str):
    return client.post("/classify", files={"file": ("a.png", png, "image/png")}, headers=headers)


def test_an_anonymous_upload_gets_401_even_when_every_slot_is_taken(
    client: TestClient, png_bytes: bytes
) -> None:
    admission: Admission = client.app.state.admission
    admission.in_progress = admission.limit

    anonymous = upload(client, png_bytes, Authorization="")
    known = upload(client, png_bytes)

    assert anonymous.status_code == 401, anonymous.text
    assert known.status_code == 503


def test_one_caller_cannot_take_every_slot(admission_of: Callable[..., Admission]) -> None:
    admission = admission_of(limit=4, per_caller=2)

    with admission.admit("key-1", "10.0.0.1"), admission.admit("key-1", "10.0.0.1"):
        with pytest.raises(HTTPException) as refused, admission.admit("key-1", "10.0.0.2"):
            pass
        with admission.admit("key-2", "10.0.0.2"):
            assert admission.in_progress == 3

    assert refused.value.status_code == 503
    assert "this caller" in refused.value.detail
    assert admission.in_progress == 0


@pytest.fixture
def admission_of() -> Callable[..., Admission]:
    return lambda limit, per_caller: Admission(limit, per_caller)


def settings_for_bodies(**values: object) -> Settings:
    return Settings(_env_file=None, **values)


def test_a_body_that_stops_arriving_gets_408() -> None:
    async def silent() -> dict:
        await asyncio.sleep(3600)
        return {}

    receive = _receive_at_most(silent, 1024, settings_for_bodies(upload_idle_timeout_s=0.05))

    with pytest.raises(HTTPException) as refused:
        asyncio.run(receive())
    assert refused.value.status_code == 408


def test_a_body_that_trickles_in_gets_408_once_the_grace_time_has_passed() -> None:
    async def one_byte_at_a_time() -> dict:
        await asyncio.sleep(0.02)
        return {"type": "http.request", "body": b"x", "more_body": True}

    settings = settings_for_bodies(upload_idle_timeout_s=0.05, upload_min_bytes_per_s=1000)
    receive = _receive_at_most(one_byte_at_a_time, 1024, settings)

    async def read_until_refused() -> None:
        while True:
            await receive()

    with pytest.raises(HTTPException) as refused:
        asyncio.run(read_until_refused())
    assert refused.value.status_code == 408
    assert "bytes/s" in refused.value.detail

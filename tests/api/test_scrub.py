"""`python -m api.scrub`: images stored before uploads were stripped lose their text too."""

import hashlib
from collections.abc import Callable

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.models import Record
from api.scrub import main, scrub_stored_images
from api.settings import Settings
from api.storage import BlobStore
from ml.decode import decode_image
from tests.api.test_deidentify import jpeg_with_comment_and_exif, png_with_text_chunks


def store_as_an_earlier_version_did(
    client: TestClient,
    engine: Engine,
    blob_store: BlobStore,
    data: bytes | None = None,
    media_type: str = "image/png",
    stored: bytes | None = None,
) -> int:
    """A record whose stored image still carries its text: uploaded, then pointed back at the
    bytes as they were sent (or at `stored`), which is what earlier versions stored."""
    data = data or png_with_text_chunks()
    record_id = client.post("/classify", files={"file": ("s", data, media_type)}).json()["id"]
    with Session(engine) as session:
        record = session.get(Record, record_id)
        record.image_sha256 = blob_store.write(stored or data).sha256
        session.add(record)
        session.commit()
    return record_id


@pytest.mark.parametrize(
    ("data", "media_type"),
    [
        pytest.param(png_with_text_chunks(), "image/png", id="png"),
        pytest.param(jpeg_with_comment_and_exif(), "image/jpeg", id="jpeg"),
    ],
)
def test_a_stored_image_with_text_is_rewritten_without_it_and_the_old_file_is_gone(
    client: TestClient, engine: Engine, blob_store: BlobStore, data: bytes, media_type: str
) -> None:
    record_id = store_as_an_earlier_version_did(client, engine, blob_store, data, media_type)
    old = hashlib.sha256(data).hexdigest()

    report = scrub_stored_images(engine, blob_store)

    served = client.get(f"/records/{record_id}/original").content
    assert b"Doe^Jane" not in served
    np.testing.assert_array_equal(decode_image(served).pixels, decode_image(data).pixels)
    assert client.get(f"/records/{record_id}").json()["image_sha256"] == (
        hashlib.sha256(served).hexdigest()
    )
    assert not blob_store.exists(old)
    assert (report.rewritten, report.records_moved, report.unreadable) == (1, 1, [])


def test_running_it_again_changes_nothing(
    client: TestClient, engine: Engine, blob_store: BlobStore, stored_blobs: Callable[[], list]
) -> None:
    store_as_an_earlier_version_did(client, engine, blob_store, png_with_text_chunks(), "image/png")
    scrub_stored_images(engine, blob_store)
    stored_after_first = sorted(blob.name for blob in stored_blobs())

    again = scrub_stored_images(engine, blob_store)

    assert (again.rewritten, again.clean) == (0, 1)
    assert sorted(blob.name for blob in stored_blobs()) == stored_after_first


def test_the_command_scrubs_the_configured_store_and_says_what_it_did(
    client: TestClient,
    engine: Engine,
    blob_store: BlobStore,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store_as_an_earlier_version_did(client, engine, blob_store, png_with_text_chunks(), "image/png")

    assert main([], settings) == 0

    assert "Stripped 1 stored image(s) (1 record(s)" in capsys.readouterr().err


def test_a_stored_image_whose_structure_cannot_be_followed_is_named_and_left_alone(
    client: TestClient, engine: Engine, blob_store: BlobStore, settings: Settings
) -> None:
    damaged = png_with_text_chunks()[:60]  # its first chunk runs past the end of the file
    store_as_an_earlier_version_did(client, engine, blob_store, stored=damaged)

    assert main([], settings) == 1

    assert blob_store.read(hashlib.sha256(damaged).hexdigest()) == damaged

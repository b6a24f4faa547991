"""The start-up check between the stored images and the records, on disk (SQLite) and in
the database (PostgreSQL)."""

import logging
import os
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, update
from sqlalchemy.engine import Engine

from api.consistency import check_storage_consistency
from api.models import StoredImage
from api.storage import BlobStore, DatabaseBlobStore, DiskBlobStore

AN_HOUR = timedelta(hours=1)


def make_old(store: BlobStore, sha256: str) -> str:
    """Stored an hour ago, long past the grace period."""
    if isinstance(store, DiskBlobStore):
        an_hour_ago = time.time() - AN_HOUR.total_seconds()
        os.utime(store.path_for(sha256), (an_hour_ago, an_hour_ago))
    else:
        assert isinstance(store, DatabaseBlobStore)
        table = StoredImage.__table__
        with store.engine.begin() as connection:
            connection.execute(
                update(table).where(table.c.sha256 == sha256).values(stored_at=func.now() - AN_HOUR)
            )
    return sha256


def write_orphan(store: BlobStore, data: bytes) -> str:
    return store.write(data).sha256


def write_temp_file(store: DiskBlobStore) -> Path:
    shard = store.root / "ab"
    shard.mkdir(parents=True, exist_ok=True)
    path = shard / ".tmp-interrupted.part"
    path.write_bytes(b"half an upl")
    return path


def make_file_old(path: Path) -> Path:
    an_hour_ago = time.time() - AN_HOUR.total_seconds()
    os.utime(path, (an_hour_ago, an_hour_ago))
    return path


def test_an_old_orphan_image_is_removed(engine: Engine, blob_store: BlobStore) -> None:
    orphan = make_old(blob_store, write_orphan(blob_store, b"an image no record uses"))

    report = check_storage_consistency(engine, blob_store)

    assert report.removed_orphans == [orphan]
    assert not blob_store.exists(orphan)


def test_a_recent_orphan_image_is_kept_as_an_upload_in_flight(
    engine: Engine, blob_store: BlobStore
) -> None:
    orphan = write_orphan(blob_store, b"being committed right now")

    report = check_storage_consistency(engine, blob_store)

    assert report.recent_orphans == [orphan]
    assert report.removed_orphans == []
    assert blob_store.exists(orphan)


def test_an_old_temporary_file_on_disk_is_removed_and_a_recent_one_kept(
    engine: Engine, storage_dir: Path
) -> None:
    store = DiskBlobStore(storage_dir)
    old = make_file_old(write_temp_file(store))
    recent = old.with_name(".tmp-in-flight.part")
    recent.write_bytes(b"half an upl")

    report = check_storage_consistency(engine, store)

    assert report.removed_temp_files == [old]
    assert not old.exists() and recent.exists()


def test_an_image_that_a_record_uses_is_kept_however_old(
    client: TestClient, engine: Engine, blob_store: BlobStore, png_bytes: bytes
) -> None:
    record = client.post("/classify", files={"file": ("a.png", png_bytes, "image/png")}).json()
    make_old(blob_store, record["image_sha256"])

    report = check_storage_consistency(engine, blob_store)

    assert report.removed_orphans == [] and report.records_missing_blobs == []
    assert blob_store.read(record["image_sha256"]) == png_bytes


def test_a_record_whose_image_is_missing_is_logged_and_left_alone(
    client: TestClient,
    engine: Engine,
    blob_store: BlobStore,
    png_bytes: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    record = client.post("/classify", files={"file": ("a.png", png_bytes, "image/png")}).json()
    blob_store.delete(record["image_sha256"])

    with caplog.at_level(logging.ERROR, logger="api.consistency"):
        report = check_storage_consistency(engine, blob_store)

    assert report.records_missing_blobs == [record["id"]]
    assert f"ids: {record['id']}" in caplog.text
    assert client.get(f"/records/{record['id']}").status_code == 200


def test_the_check_runs_when_the_api_starts(
    make_client: Callable[..., TestClient], blob_store: BlobStore
) -> None:
    orphan = make_old(blob_store, write_orphan(blob_store, b"left by a crash"))

    make_client()

    assert not blob_store.exists(orphan)

"""The start-up check between the blob store and the records."""

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.consistency import check_storage_consistency
from api.storage import BlobStore

AN_HOUR_AGO = time.time() - 3600


def make_old(path: Path) -> Path:
    os.utime(path, (AN_HOUR_AGO, AN_HOUR_AGO))
    return path


def write_orphan(store: BlobStore, data: bytes) -> Path:
    return store.path_for(store.write(data).sha256)


def write_temp_file(store: BlobStore) -> Path:
    shard = store.root / "ab"
    shard.mkdir(parents=True, exist_ok=True)
    path = shard / ".tmp-interrupted.part"
    path.write_bytes(b"half an upl")
    return path


def test_an_old_orphan_blob_and_an_old_temporary_file_are_removed(
    engine: Engine, storage_dir: Path
) -> None:
    store = BlobStore(storage_dir)
    orphan = make_old(write_orphan(store, b"a blob no record uses"))
    temp = make_old(write_temp_file(store))

    report = check_storage_consistency(engine, store)

    assert report.removed_orphans == [orphan.name]
    assert report.removed_temp_files == [temp]
    assert not orphan.exists()
    assert not temp.exists()


def test_recent_orphans_and_temporary_files_are_kept_as_uploads_in_flight(
    engine: Engine, storage_dir: Path
) -> None:
    store = BlobStore(storage_dir)
    orphan = write_orphan(store, b"being committed right now")
    temp = write_temp_file(store)

    report = check_storage_consistency(engine, store)

    assert report.recent_orphans == [orphan.name]
    assert report.removed_orphans == [] and report.removed_temp_files == []
    assert orphan.exists() and temp.exists()


def test_a_blob_that_a_record_uses_is_kept_however_old(
    client: TestClient, engine: Engine, storage_dir: Path, png_bytes: bytes
) -> None:
    record = client.post("/classify", files={"file": ("a.png", png_bytes, "image/png")}).json()
    store = BlobStore(storage_dir)
    make_old(store.path_for(record["image_sha256"]))

    report = check_storage_consistency(engine, store)

    assert report.removed_orphans == [] and report.records_missing_blobs == []
    assert store.read(record["image_sha256"]) == png_bytes


def test_a_record_whose_blob_is_missing_is_logged_and_left_alone(
    client: TestClient,
    engine: Engine,
    storage_dir: Path,
    png_bytes: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    record = client.post("/classify", files={"file": ("a.png", png_bytes, "image/png")}).json()
    store = BlobStore(storage_dir)
    store.delete(record["image_sha256"])

    with caplog.at_level(logging.ERROR, logger="api.consistency"):
        report = check_storage_consistency(engine, store)

    assert report.records_missing_blobs == [record["id"]]
    assert f"ids: {record['id']}" in caplog.text
    assert client.get(f"/records/{record['id']}").status_code == 200


def test_the_check_runs_when_the_api_starts(
    make_client: Callable[..., TestClient], storage_dir: Path
) -> None:
    orphan = make_old(write_orphan(BlobStore(storage_dir), b"left by a crash"))

    make_client()

    assert not orphan.exists()

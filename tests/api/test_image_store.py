"""Images in PostgreSQL (`MEDIMG_IMAGE_STORE=database`): API replicas share nothing but the
database, and images on disk move there with one command.

On a real PostgreSQL server only (`MEDIMG_TEST_POSTGRES_URL`): skipped without one, failed
under CI=true. The API tests parametrised over both databases also run on this store with
PostgreSQL, so storing, refusing and deleting keep their guarantees here too.
"""

import hashlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api.consistency import check_storage_consistency
from api.db import create_db_engine
from api.images import main as images_main
from api.models import StoredImage
from api.settings import Settings
from api.storage import DatabaseBlobStore, DiskBlobStore, StoredBlob
from tests.conftest import _postgres_url_or_skip

MIGRATE = "migrate-to-database"


@pytest.fixture
def database_url() -> str:
    return _postgres_url_or_skip()


@pytest.fixture
def store(engine: Engine) -> DatabaseBlobStore:
    return DatabaseBlobStore(engine)


def image_rows(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return list(session.exec(select(StoredImage.sha256).order_by(StoredImage.sha256)))


def upload(client: TestClient, data: bytes, name: str = "slice.png") -> dict:
    response = client.post("/classify", files={"file": (name, data, "application/octet-stream")})
    assert response.status_code == 201, response.text
    return response.json()


def files_under(directory: Path) -> list[Path]:
    return [path for path in directory.rglob("*") if path.is_file()]


def test_an_image_written_is_there_read_back_whole_and_gone_once_deleted(
    store: DatabaseBlobStore,
) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB, every byte value
    sha256 = hashlib.sha256(data).hexdigest()

    assert store.write(data) == StoredBlob(sha256=sha256, created=True)
    assert store.exists(sha256)
    assert store.read(sha256) == data

    store.delete(sha256)
    store.delete(sha256)  # already gone: nothing to do, no error

    assert not store.exists(sha256)
    with pytest.raises(FileNotFoundError):
        store.read(sha256)


def test_the_same_bytes_written_twice_are_stored_once(
    store: DatabaseBlobStore, engine: Engine
) -> None:
    first, second = store.write(b"one image"), store.write(b"one image")

    assert (first.created, second.created) == (True, False)
    assert first.sha256 == second.sha256
    assert image_rows(engine) == [first.sha256]


def test_concurrent_writes_of_the_same_bytes_all_succeed_and_exactly_one_creates_it(
    store: DatabaseBlobStore, engine: Engine
) -> None:
    data = b"sent by many at once" * 1000
    with ThreadPoolExecutor(max_workers=8) as pool:
        written = list(pool.map(lambda _: store.write(data), range(16)))

    assert sum(blob.created for blob in written) == 1
    assert image_rows(engine) == [hashlib.sha256(data).hexdigest()]


def test_a_name_that_is_not_a_sha256_is_refused_before_any_query(
    store: DatabaseBlobStore,
) -> None:
    for operation in (store.exists, store.read, store.delete):
        with pytest.raises(ValueError, match="SHA-256"):
            operation("' OR 1=1 --")


def test_the_database_store_is_refused_on_sqlite(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'medimg.db'}")
    try:
        with pytest.raises(ValueError, match="only with PostgreSQL"):
            DatabaseBlobStore(engine)
    finally:
        engine.dispose()


def test_an_upload_through_one_api_is_readable_through_another_with_no_shared_disk(
    make_client: Callable[..., TestClient], tmp_path: Path, png_bytes: bytes
) -> None:
    first = make_client(storage_dir=tmp_path / "replica-1")
    second = make_client(storage_dir=tmp_path / "replica-2")

    record = upload(first, png_bytes)

    assert second.get(f"/records/{record['id']}/original").content == png_bytes
    assert second.get(f"/records/{record['id']}/image").status_code == 200
    assert files_under(tmp_path / "replica-1") == files_under(tmp_path / "replica-2") == []


def test_deleting_a_record_removes_its_image_unless_another_record_uses_it(
    make_client: Callable[..., TestClient],
    tmp_path: Path,
    png_bytes: bytes,
    jpeg_bytes: bytes,
    engine: Engine,
) -> None:
    first = make_client(storage_dir=tmp_path / "replica-1")
    second = make_client(storage_dir=tmp_path / "replica-2")
    shared = upload(first, png_bytes)
    same_bytes = upload(second, png_bytes)
    other = upload(first, jpeg_bytes, "other.jpg")

    assert second.delete(f"/records/{shared['id']}").status_code == 204
    kept_while_used = image_rows(engine)
    assert first.delete(f"/records/{same_bytes['id']}").status_code == 204

    assert kept_while_used == sorted([shared["image_sha256"], other["image_sha256"]])
    assert image_rows(engine) == [other["image_sha256"]]
    assert second.get(f"/records/{other['id']}/original").content == jpeg_bytes


def test_a_failed_ingest_leaves_no_image_row(
    client_whose_commits_fail: TestClient, engine: Engine, png_bytes: bytes
) -> None:
    response = client_whose_commits_fail.post(
        "/classify", files={"file": ("slice.png", png_bytes, "image/png")}
    )

    assert response.status_code == 500
    assert image_rows(engine) == []


def test_the_migration_command_copies_the_disk_images_records_use_and_a_rerun_copies_nothing(
    make_client: Callable[..., TestClient],
    settings: Settings,
    tmp_path: Path,
    png_bytes: bytes,
    jpeg_bytes: bytes,
    store: DatabaseBlobStore,
    capsys: pytest.CaptureFixture[str],
) -> None:
    disk_dir = tmp_path / "blobs-of-an-earlier-version"
    on_disk = make_client(storage_dir=disk_dir, image_store="disk")
    records = [upload(on_disk, png_bytes), upload(on_disk, jpeg_bytes, "b.jpg")]
    orphan = DiskBlobStore(disk_dir).write(b"no record uses this").sha256
    command_settings = settings.model_copy(update={"storage_dir": disk_dir})

    assert images_main([MIGRATE], command_settings) == 0
    first_run = capsys.readouterr().err
    assert images_main([MIGRATE], command_settings) == 0
    second_run = capsys.readouterr().err

    assert "Copied 2 image(s) into the database; 0 were there already" in first_run
    assert "Copied 0 image(s) into the database; 2 were there already" in second_run
    assert [store.read(record["image_sha256"]) for record in records] == [png_bytes, jpeg_bytes]
    assert not store.exists(orphan)
    in_database = make_client(storage_dir=tmp_path / "new-replica")
    assert in_database.get(f"/records/{records[0]['id']}/original").content == png_bytes


def test_the_migration_command_names_missing_and_damaged_files_and_copies_neither(
    make_client: Callable[..., TestClient],
    settings: Settings,
    tmp_path: Path,
    png_bytes: bytes,
    jpeg_bytes: bytes,
    store: DatabaseBlobStore,
    capsys: pytest.CaptureFixture[str],
) -> None:
    disk_dir = tmp_path / "blobs-of-an-earlier-version"
    on_disk = make_client(storage_dir=disk_dir, image_store="disk")
    missing, damaged = upload(on_disk, png_bytes), upload(on_disk, jpeg_bytes, "b.jpg")
    files = DiskBlobStore(disk_dir)
    files.path_for(missing["image_sha256"]).unlink()
    files.path_for(damaged["image_sha256"]).write_bytes(jpeg_bytes[:100])

    status = images_main([MIGRATE], settings.model_copy(update={"storage_dir": disk_dir}))

    printed = capsys.readouterr()
    assert status == 1
    assert "1 missing and 1 damaged on disk" in printed.err
    assert f"missing: {missing['image_sha256']}" in printed.out
    assert f"damaged: {damaged['image_sha256']}" in printed.out
    assert not store.exists(missing["image_sha256"])
    assert not store.exists(damaged["image_sha256"])


def test_the_migration_command_without_its_subcommand_prints_its_usage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert images_main([]) == 2
    assert MIGRATE in capsys.readouterr().err


def test_records_whose_images_are_still_on_disk_are_logged_with_the_command_that_moves_them(
    make_client: Callable[..., TestClient],
    tmp_path: Path,
    png_bytes: bytes,
    engine: Engine,
    store: DatabaseBlobStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    on_disk = make_client(storage_dir=tmp_path / "blobs", image_store="disk")
    record = upload(on_disk, png_bytes)

    with caplog.at_level(logging.ERROR, logger="api.consistency"):
        report = check_storage_consistency(engine, store)

    assert report.records_missing_blobs == [record["id"]]
    assert "python -m api.images migrate-to-database" in caplog.text

"""Uploaded images, addressed by the SHA-256 of their bytes, on disk or in the database.

Identical uploads have one address, so each distinct image is stored once, and an image is
either absent or complete. Two stores keep that promise (`BlobStore` is what both offer):

- `DiskBlobStore`, files under `MEDIMG_STORAGE_DIR`: each is written beside its final name,
  flushed to disk, then renamed into place, so a crash never leaves a half-written image
  under a valid name. The default with SQLite.
- `DatabaseBlobStore`, rows of `stored_image` in the records' PostgreSQL database: each
  write is one committed INSERT, so API replicas share nothing but the database. The default
  with PostgreSQL (`MEDIMG_IMAGE_STORE`).

Either way an image is stored before the record that uses it is committed, and each
operation stands alone (its own transaction on the database), so the ingest and delete
paths keep the same guarantees on both.
"""

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Engine

from api.models import StoredImage
from api.settings import Settings

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_IMAGES = StoredImage.__table__


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    created: bool  # False when the same bytes were already stored


class BlobStore(Protocol):
    def exists(self, sha256: str) -> bool: ...

    def read(self, sha256: str) -> bytes:
        """The stored bytes; FileNotFoundError when there are none (callers answer 404)."""
        ...

    def write(self, data: bytes) -> StoredBlob:
        """Store `data` under its SHA-256, once however often (or concurrently) it comes."""
        ...

    def delete(self, sha256: str) -> None:
        """Remove the image if it is there."""
        ...


def open_blob_store(settings: Settings, engine: Engine) -> BlobStore:
    """The store `MEDIMG_IMAGE_STORE` chooses; `engine` is the records' database."""
    if settings.image_store == "database":
        return DatabaseBlobStore(engine)
    return DiskBlobStore(settings.storage_dir)


def checked_sha256(sha256: str) -> str:
    # The hash is checked before it becomes a path or a key, so it can never climb out of
    # the store's root or name something that is not an image.
    if not _SHA256_HEX.fullmatch(sha256):
        raise ValueError(f"not a lowercase hex SHA-256: {sha256!r}")
    return sha256


class DiskBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, sha256: str) -> Path:
        # Two-character shards keep any one directory small.
        return self.root / sha256[:2] / checked_sha256(sha256)

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def read(self, sha256: str) -> bytes:
        return self.path_for(sha256).read_bytes()

    def write(self, data: bytes) -> StoredBlob:
        sha256 = hashlib.sha256(data).hexdigest()
        path = self.path_for(sha256)
        if path.is_file():
            return StoredBlob(sha256=sha256, created=False)
        self._make_shard_dir(path.parent)
        _write_atomically(path, data)
        return StoredBlob(sha256=sha256, created=True)

    def delete(self, sha256: str) -> None:
        self.path_for(sha256).unlink(missing_ok=True)

    def _make_shard_dir(self, shard: Path) -> None:
        if shard.is_dir():
            return
        shard.mkdir(parents=True, exist_ok=True)
        _fsync_dir(self.root)  # the new shard's own entry must be durable too


class DatabaseBlobStore:
    """One bytea row per image, read and written whole, as the disk store reads and writes
    files. An upload is at most `MEDIMG_MAX_UPLOAD_BYTES` (20 MiB unless raised), far below
    bytea's 1 GB, so large objects, which can be streamed, would add a second place to clean
    up (their own table, outside the row) for no gain."""

    def __init__(self, engine: Engine) -> None:
        if engine.dialect.name != "postgresql":
            # ON CONFLICT here and the start-up check's queries are written for PostgreSQL;
            # with SQLite, one machine, the disk store does as well.
            raise ValueError("images are kept in the database only with PostgreSQL")
        self.engine = engine

    def exists(self, sha256: str) -> bool:
        statement = select(_IMAGES.c.sha256).where(_IMAGES.c.sha256 == checked_sha256(sha256))
        with self.engine.connect() as connection:
            return connection.execute(statement).first() is not None

    def read(self, sha256: str) -> bytes:
        statement = select(_IMAGES.c.data).where(_IMAGES.c.sha256 == checked_sha256(sha256))
        with self.engine.connect() as connection:
            data = connection.execute(statement).scalar_one_or_none()
        if data is None:
            raise FileNotFoundError(f"no stored image {sha256}")
        return data

    def write(self, data: bytes) -> StoredBlob:
        sha256 = hashlib.sha256(data).hexdigest()
        # DO NOTHING, not a look-up first: two requests storing the same bytes at once both
        # succeed, and exactly one of them learns that it created the row.
        # RETURNING names the row only when this statement inserted it.
        statement = (
            insert(_IMAGES)
            .values(sha256=sha256, data=data)
            .on_conflict_do_nothing(index_elements=[_IMAGES.c.sha256])
            .returning(_IMAGES.c.sha256)
        )
        with self.engine.begin() as connection:
            created = connection.execute(statement).first() is not None
        return StoredBlob(sha256=sha256, created=created)

    def delete(self, sha256: str) -> None:
        statement = delete(_IMAGES).where(_IMAGES.c.sha256 == checked_sha256(sha256))
        with self.engine.begin() as connection:
            connection.execute(statement)


def _write_atomically(path: Path, data: bytes) -> None:
    # Same directory as the target, so os.replace is a rename on one filesystem (atomic).
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)  # makes the rename itself survive a power cut


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":  # directories cannot be opened for fsync on Windows
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

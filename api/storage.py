"""Uploaded images on disk, addressed by the SHA-256 of their bytes.

Identical uploads land on the same path, so each distinct image is stored once. A file is
either absent or complete: it is written beside its final name, flushed to disk, then
renamed into place, so a crash never leaves a half-written image under a valid name.
"""

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    created: bool  # False when the same bytes were already stored


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, sha256: str) -> Path:
        # The hash is checked before it becomes a path, so it can never climb out of root.
        if not _SHA256_HEX.fullmatch(sha256):
            raise ValueError(f"not a lowercase hex SHA-256: {sha256!r}")
        # Two-character shards keep any one directory small.
        return self.root / sha256[:2] / sha256

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

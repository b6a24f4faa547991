"""Start-up check that the stored images and the records agree.

A record is committed only after its image is stored, so a crash can leave an image without
a record (an orphan) or, on disk, a temporary file from an interrupted write, never the
reverse. Both are removed once older than a grace period: a younger one may belong to an
upload that another worker process or replica is storing right now. A record whose image
is missing means something outside the API deleted it (or images on disk were never copied
into the database); it is logged for the operator, never "repaired".
"""

import logging
import re
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy import delete, exists, func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from api.models import Record, StoredImage
from api.storage import BlobStore, DatabaseBlobStore, DiskBlobStore

ORPHAN_GRACE = timedelta(minutes=1)
# api.storage writes each blob as ".tmp-*.part" beside its final name, then renames it.
_TEMP_FILE = re.compile(r"\.tmp-.*\.part")
_BLOB_NAME = re.compile(r"[0-9a-f]{64}")
# Enough ids to find the records; the count says how many there are in all.
MAX_LOGGED_RECORD_IDS = 20
_IMAGES = StoredImage.__table__

logger = logging.getLogger(__name__)


@dataclass
class ConsistencyReport:
    removed_temp_files: list[Path] = field(default_factory=list)
    removed_orphans: list[str] = field(default_factory=list)  # sha256 of each
    recent_orphans: list[str] = field(default_factory=list)  # kept: maybe still in flight
    records_missing_blobs: list[int] = field(default_factory=list)


def check_storage_consistency(
    engine: Engine, blob_store: BlobStore, *, grace: timedelta = ORPHAN_GRACE
) -> ConsistencyReport:
    if isinstance(blob_store, DatabaseBlobStore):
        report = _check_database(engine, grace)
    elif isinstance(blob_store, DiskBlobStore):
        report = _check_disk(engine, blob_store, grace)
    else:
        raise TypeError(f"no consistency check for {type(blob_store).__name__}")
    _log(report, grace, images_in_database=isinstance(blob_store, DatabaseBlobStore))
    return report


def _check_database(engine: Engine, grace: timedelta) -> ConsistencyReport:
    """The same check as on disk, in three statements: no image or hash list is loaded."""
    report = ConsistencyReport()
    unreferenced = ~exists().where(col(Record.image_sha256) == _IMAGES.c.sha256)
    # The database's clock, which stamped each row (StoredImage.stored_at).
    old = _IMAGES.c.stored_at < func.now() - grace
    with engine.begin() as connection:
        removed = delete(_IMAGES).where(unreferenced, old).returning(_IMAGES.c.sha256)
        report.removed_orphans = sorted(connection.execute(removed).scalars())
        recent = select(_IMAGES.c.sha256).where(unreferenced).order_by(_IMAGES.c.sha256)
        report.recent_orphans = list(connection.execute(recent).scalars())
        missing = (
            select(Record.id)
            .where(~exists().where(_IMAGES.c.sha256 == col(Record.image_sha256)))
            .order_by(col(Record.id))
        )
        report.records_missing_blobs = list(connection.execute(missing).scalars())
    return report


def _check_disk(engine: Engine, blob_store: DiskBlobStore, grace: timedelta) -> ConsistencyReport:
    report = ConsistencyReport()
    cutoff = time.time() - grace.total_seconds()
    stored = _stored_blobs(blob_store.root, report, cutoff)
    with Session(engine) as session:
        referenced = _referenced_hashes(session)
        for sha256 in sorted(set(stored) - referenced):
            _remove_orphan_if_old(blob_store, stored[sha256], sha256, cutoff, report)
        report.records_missing_blobs = _records_missing_blobs(
            session, referenced - set(stored), blob_store
        )
    return report


def _stored_blobs(root: Path, report: ConsistencyReport, cutoff: float) -> dict[str, Path]:
    """Every blob by sha256; leftover temporary files older than the cutoff are removed."""
    blobs: dict[str, Path] = {}
    for path in root.glob("*/*"):
        if not path.is_file():
            continue
        if _TEMP_FILE.fullmatch(path.name):
            if _modified_before(path, cutoff):
                path.unlink(missing_ok=True)
                report.removed_temp_files.append(path)
        elif _BLOB_NAME.fullmatch(path.name):
            blobs[path.name] = path
    return blobs


def _referenced_hashes(session: Session) -> set[str]:
    return set(session.exec(select(Record.image_sha256).distinct()))


def _remove_orphan_if_old(
    blob_store: DiskBlobStore, path: Path, sha256: str, cutoff: float, report: ConsistencyReport
) -> None:
    if _modified_before(path, cutoff):
        blob_store.delete(sha256)
        report.removed_orphans.append(sha256)
    else:
        report.recent_orphans.append(sha256)


def _records_missing_blobs(
    session: Session, missing_hashes: set[str], blob_store: DiskBlobStore
) -> list[int]:
    if not missing_hashes:
        return []
    statement = (
        select(Record.id, Record.image_sha256)
        .where(col(Record.image_sha256).in_(missing_hashes))
        .order_by(col(Record.id))
    )
    # Looked at again: a blob may have been written since the scan.
    rows = session.exec(statement).all()
    return [record_id for record_id, sha256 in rows if not blob_store.exists(sha256)]


def _modified_before(path: Path, cutoff: float) -> bool:
    try:
        return path.stat().st_mtime < cutoff
    except FileNotFoundError:  # removed meanwhile, e.g. renamed into place
        return False


def _log(report: ConsistencyReport, grace: timedelta, *, images_in_database: bool) -> None:
    # Only counts, hashes and record ids: nothing that could identify a patient.
    if report.removed_temp_files:
        logger.warning(
            "Removed %d temporary file(s) left by interrupted uploads.",
            len(report.removed_temp_files),
        )
    if report.removed_orphans:
        logger.warning(
            "Removed %d stored image(s) that no record uses (uploads interrupted before "
            "their record was saved).",
            len(report.removed_orphans),
        )
    if report.recent_orphans:
        logger.info(
            "%d stored image(s) without a record are younger than %s and were kept: they may "
            "belong to uploads in progress.",
            len(report.recent_orphans),
            grace,
        )
    if report.records_missing_blobs:
        shown = report.records_missing_blobs[:MAX_LOGGED_RECORD_IDS]
        logger.error(
            "%d record(s) have no stored image (deleted outside the API?); ids: %s%s",
            len(report.records_missing_blobs),
            ", ".join(map(str, shown)),
            " …" if len(report.records_missing_blobs) > len(shown) else "",
        )
        if images_in_database:
            logger.error(
                "Images are kept in the database (MEDIMG_IMAGE_STORE=database). If these were "
                "stored on disk before, copy them with `python -m api.images "
                "migrate-to-database`."
            )

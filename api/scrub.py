"""Strip text, comments and EXIF from PNG and JPEG images stored before uploads were stripped.

    python -m api.scrub

Uploads are stored without their PNG text chunks, JPEG comments and EXIF
(api.deidentify.strip_raster_metadata); images stored by earlier versions may still carry
what a sender wrote into them (names, identifiers). This command rewrites each such image on the
configured database and image store (MEDIMG_DATABASE_URL, MEDIMG_IMAGE_STORE and, on disk,
MEDIMG_STORAGE_DIR) as the upload path would store it now. The pixels are untouched, so
results, heatmaps and similar cases stay valid. Safe to stop and run again: the stripped copy
is written before any record points to it, and the old one is removed only after no record
does.
"""

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select, update

from api.db import create_db_engine
from api.deidentify import strip_raster_metadata
from api.models import Record
from api.settings import Settings
from api.storage import BlobStore, open_blob_store
from ml.pixels import ImageDecodeError

STRIPPED_TYPES = ("image/png", "image/jpeg")


@dataclass
class ScrubReport:
    rewritten: int = 0  # stored images that carried text, comments or EXIF
    clean: int = 0  # already carried nothing to strip
    records_moved: int = 0  # records now pointing to a stripped copy
    unreadable: list[str] = field(default_factory=list)  # hashes whose structure was damaged


def main(argv: Sequence[str] | None = None, settings: Settings | None = None) -> int:
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    settings = settings or Settings()
    engine = create_db_engine(settings.database_url)
    try:
        report = scrub_stored_images(engine, open_blob_store(settings, engine))
    finally:
        engine.dispose()
    print(
        f"Stripped {report.rewritten} stored image(s) ({report.records_moved} record(s) now use "
        f"the stripped copy); {report.clean} had nothing to strip.",
        file=sys.stderr,
    )
    for sha256 in report.unreadable:
        print(f"Could not follow the structure of stored image {sha256}; left as it is.")
    return 1 if report.unreadable else 0


def scrub_stored_images(engine: Engine, blob_store: BlobStore) -> ScrubReport:
    report = ScrubReport()
    for sha256, media_type in _stored_rasters(engine):
        if not blob_store.exists(sha256):
            continue  # a missing image is the consistency check's to report
        stored = blob_store.read(sha256)
        try:
            stripped = strip_raster_metadata(stored, media_type)
        except ImageDecodeError:
            report.unreadable.append(sha256)
            continue
        if stripped == stored:
            report.clean += 1
            continue
        report.records_moved += _move_records(engine, blob_store, sha256, stripped)
        report.rewritten += 1
    return report


def _stored_rasters(engine: Engine) -> list[tuple[str, str]]:
    statement = (
        select(Record.image_sha256, Record.media_type)
        .where(col(Record.media_type).in_(STRIPPED_TYPES))
        .distinct()
        .order_by(col(Record.image_sha256))
    )
    with Session(engine) as session:
        return [(sha256, media_type) for sha256, media_type in session.exec(statement)]


def _move_records(engine: Engine, blob_store: BlobStore, old: str, stripped: bytes) -> int:
    """Point every record of the old image at the stripped copy, then remove the old one."""
    new = blob_store.write(stripped).sha256
    with Session(engine) as session:
        moved = session.exec(
            update(Record).where(col(Record.image_sha256) == old).values(image_sha256=new)
        ).rowcount
        session.commit()
        still_used = session.exec(
            select(func.count()).select_from(Record).where(col(Record.image_sha256) == old)
        ).one()
    if not still_used:
        blob_store.delete(old)
    return moved


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

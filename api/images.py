"""Copy the images stored on disk into the database, for API replicas that share no disk.

    python -m api.images migrate-to-database

Every image a record uses is read from MEDIMG_STORAGE_DIR, checked against its SHA-256 (its
name), and stored in the PostgreSQL database of MEDIMG_DATABASE_URL (api.storage), whatever
MEDIMG_IMAGE_STORE says: it is run before the API is switched to the database store, and
once more after, for what was uploaded in between. Safe to stop and run again: an image
already in the database is not read again. The files are left where they are. Exit status
0 when every record's image is in the database; 1 when some are missing or damaged on disk
(their hashes are printed): those records have no image until the files are found and the
command runs again.
"""

import hashlib
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import col

from api.db import create_db_and_tables, create_db_engine
from api.models import Record, StoredImage
from api.settings import Settings
from api.storage import DatabaseBlobStore, DiskBlobStore

COMMAND = "migrate-to-database"
# Hashes looked up per query: few round trips for a million records, short IN lists.
BATCH = 500
_IMAGES = StoredImage.__table__


@dataclass
class MigrationReport:
    copied: int = 0
    already_there: int = 0  # in the database before this run (or stored by a replica meanwhile)
    missing: list[str] = field(default_factory=list)  # used by a record, in neither store
    damaged: list[str] = field(default_factory=list)  # on disk, but not the bytes it names


def main(argv: Sequence[str] | None = None, settings: Settings | None = None) -> int:
    if list(argv or []) != [COMMAND]:
        print(__doc__, file=sys.stderr)
        return 2
    settings = settings or Settings()
    engine = create_db_engine(settings.database_url)
    try:
        database = DatabaseBlobStore(engine)
    except ValueError as error:
        print(f"{error}; MEDIMG_DATABASE_URL is not a PostgreSQL URL.", file=sys.stderr)
        engine.dispose()
        return 2
    try:
        create_db_and_tables(engine)  # the table may not exist yet: no API has started on it
        report = migrate_to_database(engine, DiskBlobStore(settings.storage_dir), database)
    finally:
        engine.dispose()
    print(
        f"Copied {report.copied} image(s) into the database; {report.already_there} were there "
        f"already; {len(report.missing)} missing and {len(report.damaged)} damaged on disk.",
        file=sys.stderr,
    )
    for sha256 in report.missing:
        print(f"missing: {sha256}")
    for sha256 in report.damaged:
        print(f"damaged: {sha256}")
    return 1 if report.missing or report.damaged else 0


def migrate_to_database(
    engine: Engine, disk: DiskBlobStore, database: DatabaseBlobStore
) -> MigrationReport:
    report = MigrationReport()
    for hashes in _referenced_hashes(engine):
        in_database = _in_database(engine, hashes)
        report.already_there += len(in_database)
        for sha256 in hashes:
            if sha256 not in in_database:
                _copy(sha256, disk, database, report)
    return report


def _copy(
    sha256: str, disk: DiskBlobStore, database: DatabaseBlobStore, report: MigrationReport
) -> None:
    try:
        data = disk.read(sha256)
    except FileNotFoundError:
        report.missing.append(sha256)
        return
    if hashlib.sha256(data).hexdigest() != sha256:
        # Stored under another hash, it would be an image no record asks for: left out.
        report.damaged.append(sha256)
        return
    if database.write(data).created:
        report.copied += 1
    else:
        report.already_there += 1


def _referenced_hashes(engine: Engine) -> Iterator[list[str]]:
    """Each distinct hash the records use, in sorted batches: memory stays bounded."""
    after = ""
    while True:
        statement = (
            select(Record.image_sha256)
            .where(col(Record.image_sha256) > after)
            .distinct()
            .order_by(col(Record.image_sha256))
            .limit(BATCH)
        )
        with engine.connect() as connection:
            hashes = list(connection.execute(statement).scalars())
        if not hashes:
            return
        yield hashes
        after = hashes[-1]


def _in_database(engine: Engine, hashes: list[str]) -> set[str]:
    statement = select(_IMAGES.c.sha256).where(_IMAGES.c.sha256.in_(hashes))
    with engine.connect() as connection:
        return set(connection.execute(statement).scalars())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

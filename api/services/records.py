"""Record queries: who may see which record, filtered pages, one record or its image, delete."""

import logging
from http import HTTPStatus
from typing import Any, Literal, Self

from fastapi import HTTPException
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import ColumnElement, and_, case, delete, or_, true
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, func, select
from sqlmodel.sql.expression import SelectOfScalar

from api.models import (
    BodyPart,
    FilingContext,
    Modality,
    Record,
    RecordsPublic,
    Review,
    ReviewStatus,
    Role,
    TumourClass,
)
from api.pagination import Cursor, decode_cursor, encode_cursor
from api.security import Actor
from api.storage import BlobStore
from api.values import MAX_INT64, Text, UtcInstant
from ml.finding import Finding
from ml.ood import Suitability

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20

# `newest` and `oldest` page with cursors; `suspicion` (the triage order) with `offset` only.
RecordSort = Literal["newest", "oldest", "suspicion"]
SUSPICION_SORT_DESCRIPTION = (
    "`newest` or `oldest` first, or `suspicion`: the triage order, `tumour_suspected` first "
    "by `tumour_probability` (highest first), then `indeterminate`, then `no_tumour`, then "
    "records without a finding (out of distribution, or made before the finding existed); "
    "newest first within equal answers. `suspicion` pages with `offset` only (no cursor: "
    "its position is no (created_at, id) pair), and sorts the matching records rather than "
    "reading them along an index: narrow it with filters on large lists."
)
# Triage rank of each finding; anything else (no answer) comes last.
SUSPICION_RANK = {
    Finding.TUMOUR_SUSPECTED: 0,
    Finding.INDETERMINATE: 1,
    Finding.NO_TUMOUR: 2,
}
NO_FINDING_RANK = len(SUSPICION_RANK)
# A salted UID hash as ingest writes it: hex HMAC-SHA256 (docs/ARCHITECTURE.md, "UID hashes").
UID_HASH_PATTERN = r"^[0-9a-f]{64}$"

logger = logging.getLogger(__name__)


class RecordQuery(BaseModel):
    """Paging, order and filters of GET /records; every filter narrows the list further."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(
        default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="Records per page."
    )
    cursor: str | None = Field(
        default=None,
        max_length=512,
        description="`next_cursor` of the previous page; stable while records are added.",
    )
    offset: int = Field(
        default=0,
        ge=0,
        le=MAX_INT64,
        description="Records to skip; prefer `cursor` for long lists.",
    )
    sort: RecordSort = Field(default="newest", description=SUSPICION_SORT_DESCRIPTION)
    finding: Finding | None = Field(
        default=None,
        description="Tumour-first finding (out-of-distribution records have none).",
    )
    label: TumourClass | None = Field(
        default=None, description="Predicted class (out-of-distribution records have none)."
    )
    modality: Modality | None = Field(
        default=None, description="Modality the recogniser saw (DICOM defined term)."
    )
    body_part: BodyPart | None = Field(default=None, description="Body part the recogniser saw.")
    review_status: ReviewStatus | None = Field(default=None)
    suitability: Suitability | None = Field(
        default=None,
        description=(
            "The input gate's verdict: `ok`, `low_confidence`, or `out_of_distribution` (not "
            "assessable). Records made before the gate have none and match no value."
        ),
    )
    model_version: Text | None = Field(default=None, max_length=64)
    source_system: Text | None = Field(default=None, max_length=128)
    study_uid_hash: str | None = Field(
        default=None,
        pattern=UID_HASH_PATTERN,
        description=(
            "The records of one DICOM study (every series): its salted `study_uid_hash`, as "
            "a record of the study carries it. With `sort=oldest`, the slices as they arrived."
        ),
    )
    created_from: UtcInstant | None = Field(
        default=None, description="Created at or after this time (with a time zone)."
    )
    created_to: UtcInstant | None = Field(
        default=None, description="Created before this time (with a time zone)."
    )

    @model_validator(mode="after")
    def one_way_of_paging(self) -> Self:
        if self.cursor is not None and self.offset:
            raise ValueError("Use either `cursor` or `offset`, not both.")
        if self.cursor is not None and self.sort == "suspicion":
            raise ValueError("`sort=suspicion` pages with `offset`; leave `cursor` out.")
        if self.created_from and self.created_to and self.created_from >= self.created_to:
            raise ValueError("`created_from` must be earlier than `created_to`.")
        return self


def list_records(session: Session, actor: Actor, query: RecordQuery) -> RecordsPublic:
    """One page of the records `actor` may see, with the count of all that match."""
    conditions = [visible_to(actor), *filter_conditions(query)]
    count = session.exec(select(func.count()).select_from(Record).where(*conditions)).one()
    rows = list(session.exec(page_statement(conditions, query)))
    page = rows[: query.limit]
    next_cursor = None
    if len(rows) > query.limit and query.sort != "suspicion":
        last = page[-1]
        next_cursor = encode_cursor(Cursor(last.created_at, last.id, query.sort))
    return RecordsPublic(data=page, count=count, next_cursor=next_cursor)


def page_statement(
    conditions: list[ColumnElement[bool]], query: RecordQuery
) -> SelectOfScalar[Record]:
    statement = select(Record).where(*conditions).order_by(*sort_order(query.sort))
    if query.cursor is not None and query.sort != "suspicion":
        statement = statement.where(after(decode_cursor(query.cursor, query.sort)))
    # One row past the page says whether another page follows.
    return statement.offset(query.offset).limit(query.limit + 1)


def filter_conditions(query: RecordQuery) -> list[ColumnElement[bool]]:
    equal_to = {
        col(Record.finding): query.finding,
        col(Record.label): query.label,
        col(Record.modality): query.modality,
        col(Record.body_part): query.body_part,
        col(Record.review_status): query.review_status,
        col(Record.suitability): query.suitability,
        col(Record.model_version): query.model_version,
        col(Record.source_system): query.source_system,
        col(Record.study_uid_hash): query.study_uid_hash,
    }
    conditions = [column == value for column, value in equal_to.items() if value is not None]
    if query.finding is not None or query.label is not None:
        # The model's output of an out-of-distribution record is kept but is no answer.
        conditions.append(with_tumour_answer())
    if query.created_from is not None:
        conditions.append(col(Record.created_at) >= query.created_from)
    if query.created_to is not None:
        conditions.append(col(Record.created_at) < query.created_to)
    return conditions


def with_tumour_answer() -> ColumnElement[bool]:
    """Records with a tumour answer, as `api.models.has_tumour_answer` says: all but those the
    input gate found out of distribution (RecordPublic sends no finding or class for them)."""
    suitability = col(Record.suitability)
    return or_(suitability.is_(None), suitability != Suitability.OUT_OF_DISTRIBUTION)


def suspicion_rank() -> ColumnElement[int]:
    """0 for a suspected tumour, 1 indeterminate, 2 no tumour, 3 for no finding: a refused
    image's stored finding is no answer (RecordPublic sends none), so it ranks last."""
    finding = col(Record.finding)
    return case(
        (col(Record.suitability) == Suitability.OUT_OF_DISTRIBUTION, NO_FINDING_RANK),
        *((finding == value, rank) for value, rank in SUSPICION_RANK.items()),
        else_=NO_FINDING_RANK,
    )


def sort_order(sort: RecordSort) -> tuple[Any, ...]:
    # id breaks ties between records created within the same clock tick.
    if sort == "suspicion":
        # coalesce: NULLs sort first in a descending order on PostgreSQL, last on SQLite.
        return (
            suspicion_rank().asc(),
            func.coalesce(col(Record.tumour_probability), -1.0).desc(),
            col(Record.created_at).desc(),
            col(Record.id).desc(),
        )
    if sort == "oldest":
        return col(Record.created_at).asc(), col(Record.id).asc()
    return col(Record.created_at).desc(), col(Record.id).desc()


def after(cursor: Cursor) -> ColumnElement[bool]:
    """Rows strictly past the cursor's record in the cursor's order."""
    created_at, record_id = col(Record.created_at), col(Record.id)
    if cursor.sort == "oldest":
        later = created_at > cursor.created_at
        same_time = and_(created_at == cursor.created_at, record_id > cursor.id)
    else:
        later = created_at < cursor.created_at
        same_time = and_(created_at == cursor.created_at, record_id < cursor.id)
    return or_(later, same_time)


def delete_record_and_image(session: Session, blob_store: BlobStore, record_id: int) -> None:
    """The record, its reviews, its filing context, and its image unless another record
    shares it; all or none of the rows."""
    sha256 = lock_record_or_404(session, record_id).image_sha256
    session.execute(delete(Review).where(col(Review.record_id) == record_id))
    # Explicitly, as the reviews: SQLite enforces no foreign key (no ON DELETE CASCADE).
    session.execute(delete(FilingContext).where(col(FilingContext.record_id) == record_id))
    # A statement, not session.delete(): a concurrent delete then counts as "gone" (404).
    deleted = session.execute(delete(Record).where(col(Record.id) == record_id)).rowcount
    if deleted == 0:
        session.rollback()
        raise record_not_found(record_id)
    session.commit()
    discard_image_if_unused(session, blob_store, sha256)


def discard_image_if_unused(session: Session, blob_store: BlobStore, sha256: str) -> None:
    # Identical uploads share one file: it goes only with the last record that used it.
    still_used = session.exec(
        select(func.count()).select_from(Record).where(col(Record.image_sha256) == sha256)
    ).one()
    if still_used:
        return
    try:
        blob_store.delete(sha256)
    except (OSError, SQLAlchemyError):
        # The record is gone already; the start-up consistency check removes orphan images.
        logger.warning("Could not delete the unused image %s", sha256, exc_info=True)


def record_not_found(record_id: int) -> HTTPException:
    return HTTPException(HTTPStatus.NOT_FOUND, f"Record {record_id} does not exist.")


def get_record_or_404(session: Session, record_id: int) -> Record:
    record = session.get(Record, record_id)
    if record is None:
        raise record_not_found(record_id)
    return record


def lock_record_or_404(session: Session, record_id: int) -> Record:
    """The record, locked until commit so a concurrent review or delete waits its turn."""
    # populate_existing: the session may hold an older copy of the row.
    statement = select(Record).where(col(Record.id) == record_id).with_for_update()
    record = session.exec(statement.execution_options(populate_existing=True)).first()
    if record is None:
        raise record_not_found(record_id)
    return record


def read_image_or_404(blob_store: BlobStore, record: Record) -> bytes:
    try:
        return blob_store.read(record.image_sha256)
    except FileNotFoundError:
        # The record was deleted (with its image) between reading it and its image.
        raise HTTPException(HTTPStatus.NOT_FOUND, f"Record {record.id} has been deleted.") from None


# Integration keys see only the records they created; every other role sees all.
def visible_to(actor: Actor) -> ColumnElement[bool]:
    if actor.role == Role.INTEGRATION:
        return col(Record.created_by_key_id) == actor.key_id
    return true()


def can_see(actor: Actor, record: Record) -> bool:
    return actor.role != Role.INTEGRATION or record.created_by_key_id == actor.key_id


def get_visible_record_or_404(session: Session, actor: Actor, record_id: int) -> Record:
    record = get_record_or_404(session, record_id)
    if not can_see(actor, record):
        # The same answer as for a missing record: another key's record must not be revealed.
        raise HTTPException(HTTPStatus.NOT_FOUND, f"Record {record_id} does not exist.")
    return record


def lock_visible_record_or_404(session: Session, actor: Actor, record_id: int) -> Record:
    record = lock_record_or_404(session, record_id)
    if not can_see(actor, record):
        # The same answer as for a missing record: another key's record must not be revealed.
        raise record_not_found(record_id)
    return record

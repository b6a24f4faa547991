"""Classification records: the table and its public shapes (full-stack-fastapi-template style)."""

from datetime import UTC, datetime

from sqlalchemy import JSON, Column, DateTime, TypeDecorator
from sqlmodel import Field, SQLModel

SHA256_HEX_LENGTH = 64

RECORD_EXAMPLE = {
    "id": 1,
    "label": "glioma",
    "probabilities": {"glioma": 0.91, "meningioma": 0.05, "no_tumor": 0.01, "pituitary": 0.03},
    "model_version": "0.1.0",
    "created_at": "2026-11-26T01:00:00Z",
    "filename": "slice-042.jpg",
    "media_type": "image/jpeg",
    "image_sha256": "9f2c5e1a4b7d3c8e0f6a2b9d4c1e7f3a5b8d0c2e4f6a8b1d3c5e7f9a0b2c4d6e",
    "width": 512,
    "height": 512,
}


def utc_now() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC timestamp on every backend.

    SQLite has no time zones and hands back naive datetimes; without this the API would
    emit `created_at` without its `Z` on SQLite but with it on PostgreSQL.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("created_at must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class RecordBase(SQLModel):
    label: str = Field(index=True, max_length=64, description="Most probable class.")
    probabilities: dict[str, float] = Field(
        description="Probability of each class the model knows; they sum to 1."
    )
    model_version: str = Field(
        index=True, max_length=64, description="Version of the model that classified the image."
    )
    filename: str | None = Field(
        default=None, max_length=255, description="Name of the uploaded file, as sent."
    )
    media_type: str = Field(
        max_length=64, description="Type detected from the file's bytes, e.g. image/jpeg."
    )
    image_sha256: str = Field(
        index=True,
        min_length=SHA256_HEX_LENGTH,
        max_length=SHA256_HEX_LENGTH,
        description="SHA-256 of the uploaded bytes (hex); identical uploads share one image.",
    )
    width: int = Field(gt=0, description="Image width in pixels.")
    height: int = Field(gt=0, description="Image height in pixels.")
    source_system: str | None = Field(
        default=None,
        index=True,
        max_length=128,
        description="The sending system (e.g. a PACS or RIS name), when it said so.",
    )
    study_uid_hash: str | None = Field(
        default=None,
        index=True,
        max_length=64,
        description="Salted hash of the DICOM StudyInstanceUID; the UID itself is not kept.",
    )
    series_uid_hash: str | None = Field(
        default=None,
        index=True,
        max_length=64,
        description="Salted hash of the DICOM SeriesInstanceUID.",
    )
    sop_uid_hash: str | None = Field(
        default=None,
        index=True,
        max_length=64,
        description="Salted hash of the DICOM SOPInstanceUID.",
    )


class Record(RecordBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    # Which API key created it: an integration key may read only its own records.
    created_by_key_id: int | None = Field(default=None, index=True)
    probabilities: dict[str, float] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(
        default_factory=utc_now,
        sa_column=Column(UTCDateTime, nullable=False, index=True),
    )


class RecordPublic(RecordBase):
    model_config = {"json_schema_extra": {"examples": [RECORD_EXAMPLE]}}

    id: int
    created_at: datetime = Field(description="When the image was classified (UTC).")


class RecordsPublic(SQLModel):
    model_config = {"json_schema_extra": {"examples": [{"data": [RECORD_EXAMPLE], "count": 1}]}}

    data: list[RecordPublic]
    count: int = Field(description="Total number of records, not just this page.")

"""Classification records: the table and its public shapes (full-stack-fastapi-template style)."""

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import ConfigDict, computed_field, model_validator
from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Index,
    LargeBinary,
    String,
    TypeDecorator,
    UniqueConstraint,
    func,
)
from sqlmodel import Field, SQLModel

from api.errors import Problem
from ml.finding import Finding
from ml.labels import BODY_PARTS, CLASSES, KIND_NAMES, MODALITIES
from ml.ood import Suitability

SHA256_HEX_LENGTH = 64

# What the API validates and documents as enums; the values come from the model's own lists.
TumourClass = StrEnum("TumourClass", {name: name for name in CLASSES})
TumourClass.__doc__ = "A class of the tumour model (models before 0.7.0 know the first four)."
Modality = StrEnum("Modality", {name: name for name in MODALITIES})
Modality.__doc__ = (
    "DICOM Modality defined term (PS3.3 C.7.3.1.1.1) of what the recogniser saw: MR, CT, DX "
    "(radiograph), US, OP (fundus photograph), XC (camera photograph, e.g. dermoscopy), SM "
    "(slide microscopy)."
)
BodyPart = StrEnum("BodyPart", {name: name for name in BODY_PARTS})
BodyPart.__doc__ = "The body part the recogniser saw; OTHER where it cannot tell (ultrasound)."
ImageKind = StrEnum("ImageKind", {name: name for name in KIND_NAMES})
ImageKind.__doc__ = "The recogniser's kind of image; only `brain_mri` is read for tumours."

CLASSES_TEXT = ", ".join(f"`{name}`" for name in CLASSES)
NO_TUMOUR_ANSWER = (
    "Null when the input gate found the image out of distribution (`suitability`): only a "
    "brain MRI gets a tumour answer."
)

RECORD_EXAMPLE = {
    "id": 1,
    "finding": "tumour_suspected",
    "tumour_probability": 0.98,
    "label": "glioma",
    "probabilities": {
        "glioma": 0.91,
        "meningioma": 0.03,
        "no_tumor": 0.02,
        "pituitary": 0.02,
        "other_tumour": 0.02,
    },
    "classes": ["glioma", "meningioma", "no_tumor", "pituitary", "other_tumour"],
    "model_version": "0.12.0",
    "created_at": "2026-11-26T01:00:00Z",
    "filename": "slice-042.jpg",
    "media_type": "image/jpeg",
    "image_sha256": "9f2c5e1a4b7d3c8e0f6a2b9d4c1e7f3a5b8d0c2e4f6a8b1d3c5e7f9a0b2c4d6e",
    "width": 512,
    "height": 512,
    "suitability": "ok",
    "suitability_reason": "Like the training slices (0.62 of the limit).",
    "modality": "MR",
    "body_part": "BRAIN",
    "kind": "brain_mri",
    "kind_probability": 0.99,
    "review_status": "confirmed",
    "final_label": "glioma",
}
# An image the recogniser did not read as brain MRI: stored and described, no tumour answer.
OUT_OF_DISTRIBUTION_EXAMPLE = {
    **RECORD_EXAMPLE,
    "id": 2,
    "finding": None,
    "tumour_probability": None,
    "label": None,
    "probabilities": None,
    "classes": None,
    "filename": "chest.png",
    "media_type": "image/png",
    "suitability": "out_of_distribution",
    "suitability_reason": "Not a brain MRI: it looks like a chest X-ray (0.98; brain MRI 0.01).",
    "modality": "DX",
    "body_part": "CHEST",
    "kind": "chest_xray",
    "kind_probability": 0.98,
    "review_status": "unreviewed",
    "final_label": None,
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


def has_tumour_answer(suitability: str | None) -> bool:
    """Whether a record with this input-gate verdict has a tumour answer: only what the gate
    let through as brain MRI does (records made before the gate, with none, too)."""
    return suitability != Suitability.OUT_OF_DISTRIBUTION


class ReviewStatus(StrEnum):
    """Where a record stands after its latest review."""

    UNREVIEWED = "unreviewed"
    CONFIRMED = "confirmed"
    CORRECTED = "corrected"
    REJECTED = "rejected"


class ReviewAction(StrEnum):
    CONFIRM = "confirm"
    CORRECT = "correct"
    REJECT = "reject"
    # Undoes a first review: the record is unreviewed again; the history keeps both.
    WITHDRAW = "withdraw"


# The status a record takes when a review with that action is appended.
STATUS_AFTER = {
    ReviewAction.CONFIRM: ReviewStatus.CONFIRMED,
    ReviewAction.CORRECT: ReviewStatus.CORRECTED,
    ReviewAction.REJECT: ReviewStatus.REJECTED,
    ReviewAction.WITHDRAW: ReviewStatus.UNREVIEWED,
}


class RecordBase(SQLModel):
    # Tumour first: whether a tumour is suspected, then which class.
    finding: str | None = Field(
        default=None,
        max_length=32,
        description=(
            "The tumour-first answer: `tumour_suspected`, `indeterminate` or `no_tumour`, from "
            "`tumour_probability` and two thresholds the model chose on validation data. "
            f"{NO_TUMOUR_ANSWER} Null too for records of models before 0.7.0."
        ),
    )
    tumour_probability: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description=(
            "Calibrated probability that any tumour is present (1 - p(no_tumor)). "
            f"{NO_TUMOUR_ANSWER} Null too for records of models before 0.7.0."
        ),
    )
    label: str = Field(index=True, max_length=64, description=f"The class: one of {CLASSES_TEXT}.")
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
    suitability: str | None = Field(
        default=None,
        max_length=32,
        description=(
            "The input gate's verdict: `ok`, `low_confidence`, or `out_of_distribution` (not "
            "a brain-MRI slice this model was built for: the label is no diagnosis). Null "
            "for records made before the gate existed."
        ),
    )
    suitability_score: float | None = Field(
        default=None,
        description=(
            "The model's out-of-distribution score: distance of the image's features to the "
            "nearest class of the training data, in units of a typical validation slice's "
            "(higher is stranger)."
        ),
    )
    suitability_reason: str | None = Field(
        default=None, max_length=500, description="Why the gate decided so, for a person."
    )
    # What the recogniser says the image is, tumour answer or not; null before 0.7.0.
    modality: str | None = Field(
        default=None,
        max_length=16,
        description="DICOM Modality of what the recogniser saw (see `kind`); null before 0.7.0.",
    )
    body_part: str | None = Field(
        default=None,
        max_length=16,
        description="Body part of what the recogniser saw (see `kind`); null before 0.7.0.",
    )
    kind: str | None = Field(
        default=None,
        max_length=32,
        description=(
            "The recogniser's most probable kind of image (e.g. `brain_mri`, `chest_xray`), "
            "which gives `modality` and `body_part`; null for records of models before 0.7.0."
        ),
    )
    kind_probability: float | None = Field(
        default=None, ge=0, le=1, description="The recogniser's probability of `kind`."
    )


class Record(RecordBase, table=True):
    # Keyset pagination orders by (created_at, id), alone or after one equality filter.
    __table_args__ = (
        Index("ix_record_created_at_id", "created_at", "id"),
        # Filtering on a class or a finding leaves out what the gate refused (suitability):
        # with it in the index, counting those records reads no table row.
        Index(
            "ix_record_label_created_at_id_suitability", "label", "created_at", "id", "suitability"
        ),
        Index("ix_record_review_status_created_at_id", "review_status", "created_at", "id"),
        Index("ix_record_model_version_created_at_id", "model_version", "created_at", "id"),
        Index("ix_record_source_system_created_at_id", "source_system", "created_at", "id"),
        Index(
            "ix_record_finding_created_at_id_suitability",
            "finding",
            "created_at",
            "id",
            "suitability",
        ),
        Index("ix_record_modality_created_at_id", "modality", "created_at", "id"),
        Index("ix_record_body_part_created_at_id", "body_part", "created_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # Which API key created it: an integration key may read only its own records.
    created_by_key_id: int | None = Field(default=None, index=True)
    probabilities: dict[str, float] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(
        default_factory=utc_now,
        sa_column=Column(UTCDateTime, nullable=False, index=True),
    )
    # The model's result (label, probabilities) never changes; reviews are appended in their
    # own table, and these two columns mirror the latest one so lists can filter on it.
    # Plain text, not a database enum type: a new status needs no schema migration. Typed
    # str, as the column hands it back; RecordPublic checks that it is a ReviewStatus.
    review_status: str = Field(
        default=ReviewStatus.UNREVIEWED, sa_column=Column(String(16), nullable=False)
    )
    reviewed_label: str | None = Field(default=None, max_length=64)
    # float32 bytes of the model's embedding, for similar-case search; never sent out.
    embedding: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))

    @computed_field(description="The label to use: see RecordPublic.final_label.")
    @property
    def final_label(self) -> str | None:
        if self.review_status == ReviewStatus.UNREVIEWED:
            # Out of distribution: the model's label is not a diagnosis until a person says so.
            return self.label if has_tumour_answer(self.suitability) else None
        if self.review_status == ReviewStatus.REJECTED:
            return None
        return self.reviewed_label


class RecordPublic(RecordBase):
    """A record as the API sends it. Out of distribution, it carries no tumour class at all:
    the model's output for it is kept, but it is no answer (only a brain MRI gets one)."""

    model_config = {
        "json_schema_extra": {"examples": [RECORD_EXAMPLE, OUT_OF_DISTRIBUTION_EXAMPLE]}
    }

    finding: Finding | None = Field(
        default=None, description=RecordBase.model_fields["finding"].description
    )
    label: TumourClass | None = Field(
        default=None,
        description=(
            f"The class, one of {CLASSES_TEXT}: `no_tumor` exactly when `finding` is "
            "`no_tumour`, else the most probable tumour class, so that it never contradicts "
            "the finding (records of models before 0.7.0: the most probable class). "
            f"{NO_TUMOUR_ANSWER}"
        ),
    )
    probabilities: dict[str, float] | None = Field(
        default=None,
        description=(
            "Calibrated probability of each class the record's model knows (see `classes`); "
            "they sum to 1. Records of models before 0.7.0 keep their four classes (no "
            f"`other_tumour`). {NO_TUMOUR_ANSWER}"
        ),
    )
    id: int
    created_at: datetime = Field(description="When the image was classified (UTC).")
    review_status: ReviewStatus = Field(description="Outcome of the latest review, if any.")
    suitability: Suitability | None = Field(
        default=None,
        description="The input gate's verdict (see suitability_reason); null before the gate.",
    )
    modality: Modality | None = Field(
        default=None, description=RecordBase.model_fields["modality"].description
    )
    body_part: BodyPart | None = Field(
        default=None, description=RecordBase.model_fields["body_part"].description
    )
    kind: ImageKind | None = Field(
        default=None, description=RecordBase.model_fields["kind"].description
    )
    final_label: str | None = Field(
        description=(
            "The reviewed label when confirmed or corrected, the model's label when "
            "unreviewed, null when a reviewer rejected the result or when it is unreviewed "
            "and the input gate found the image out of distribution (a radiologist may "
            "correct such a record to a class; it cannot be confirmed)."
        )
    )

    @model_validator(mode="after")
    def no_tumour_answer_out_of_distribution(self) -> "RecordPublic":
        if not has_tumour_answer(self.suitability):
            self.finding = self.tumour_probability = self.label = self.probabilities = None
        return self

    @computed_field(
        description=(
            "The classes the record's model knew, in its order: four (`glioma`, "
            "`meningioma`, `no_tumor`, `pituitary`) for models before 0.7.0, five since "
            "(`other_tumour` added). Null when there is no tumour answer (out of distribution)."
        )
    )
    @property
    def classes(self) -> list[str] | None:
        return list(self.probabilities) if self.probabilities is not None else None


class RecordsPublic(SQLModel):
    model_config = {"json_schema_extra": {"examples": [{"data": [RECORD_EXAMPLE], "count": 1}]}}

    data: list[RecordPublic]
    count: int = Field(description="Total number of records matching the filters.")
    next_cursor: str | None = Field(
        default=None,
        description="Pass as `cursor` to get the next page; null on the last page.",
    )


class Role(StrEnum):
    """What an API key may do (enforced by `api.deps.require_roles`)."""

    RADIOLOGIST = "radiologist"  # classify, read every record, review
    INTEGRATION = "integration"  # classify, read only the records it created
    ADMIN = "admin"  # everything, including managing keys and reading the audit trail


API_KEY_EXAMPLE = {
    "id": 3,
    "name": "pacs-bridge",
    "role": "integration",
    "prefix": "mdk_3fQm",
    "created_at": "2026-11-26T01:00:00Z",
    "revoked_at": None,
}


class ApiKeyBase(SQLModel):
    name: str = Field(
        min_length=1, max_length=100, description="Who or what uses the key, e.g. a person."
    )
    role: Role = Field(description="What the key may do.")


class ApiKey(ApiKeyBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    # Plain text, not a database enum type: adding a role needs no schema migration.
    role: Role = Field(sa_column=Column(String(32), nullable=False))
    # Only the SHA-256 of the key is kept, so a leaked database reveals no usable key.
    key_hash: str = Field(unique=True, index=True, max_length=SHA256_HEX_LENGTH)
    prefix: str = Field(max_length=16)
    created_at: datetime = Field(
        default_factory=utc_now, sa_column=Column(UTCDateTime, nullable=False)
    )
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))


class ApiKeyCreate(ApiKeyBase):
    model_config = {
        "json_schema_extra": {"examples": [{"name": "pacs-bridge", "role": "integration"}]}
    }


class ApiKeyPublic(ApiKeyBase):
    model_config = {"json_schema_extra": {"examples": [API_KEY_EXAMPLE]}}

    id: int
    prefix: str = Field(description="The key's first characters, to tell keys apart.")
    created_at: datetime
    revoked_at: datetime | None = Field(description="When the key stopped working, if it did.")


class ApiKeyCreated(ApiKeyPublic):
    model_config = {
        "json_schema_extra": {
            "examples": [{**API_KEY_EXAMPLE, "key": "mdk_3fQm…(43 more characters)"}]
        }
    }

    key: str = Field(description="The key itself. Shown only this once: store it now.")


class ApiKeysPublic(SQLModel):
    model_config = {"json_schema_extra": {"examples": [{"data": [API_KEY_EXAMPLE], "count": 1}]}}

    data: list[ApiKeyPublic]
    count: int = Field(description="Total number of keys, revoked ones included.")


AUDIT_EVENT_EXAMPLE = {
    "id": 17,
    "occurred_at": "2026-11-26T01:00:00Z",
    "key_id": 3,
    "key_name": "pacs-bridge",
    "key_role": "integration",
    "action": "read_record",
    "record_id": 42,
    "status_code": 404,
    "client_address": "10.0.0.7",
}


class AuditEventBase(SQLModel):
    """One request to an authenticated route. Never holds image content or file names."""

    occurred_at: datetime = Field(description="When the answer was sent (UTC).")
    key_id: int | None = Field(
        default=None, index=True, description="The caller's key; none if it sent no valid key."
    )
    key_name: str | None = Field(default=None, max_length=100)
    key_role: str | None = Field(default=None, max_length=32)
    action: str = Field(
        index=True, max_length=64, description="The operation, e.g. create_classification."
    )
    record_id: int | None = Field(default=None, index=True, description="The record it named.")
    status_code: int = Field(description="The HTTP status of the answer, refusals included.")
    client_address: str | None = Field(default=None, max_length=64)


class AuditEvent(AuditEventBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    occurred_at: datetime = Field(
        default_factory=utc_now, sa_column=Column(UTCDateTime, nullable=False, index=True)
    )


class AuditEventPublic(AuditEventBase):
    model_config = {"json_schema_extra": {"examples": [AUDIT_EVENT_EXAMPLE]}}

    id: int


class AuditEventsPublic(SQLModel):
    model_config = {
        "json_schema_extra": {"examples": [{"data": [AUDIT_EVENT_EXAMPLE], "count": 1}]}
    }

    data: list[AuditEventPublic]
    count: int = Field(description="Total number of events, not just this page.")


REVIEW_EXAMPLE = {
    "id": 7,
    "record_id": 1,
    "action": "correct",
    "label": "meningioma",
    "note": "Extra-axial, dural tail on the next slices.",
    "reviewer_key_id": 2,
    "reviewer_name": "dr-lee",
    "created_at": "2026-11-26T02:00:00Z",
}


class ReviewBase(SQLModel):
    action: ReviewAction = Field(
        sa_type=String(16),
        description=(
            "confirm the model's label, correct it to `label`, reject the result, or "
            "withdraw the reviews so far (the record is unreviewed again; an undo)."
        ),
    )
    label: str | None = Field(
        default=None,
        max_length=64,
        description=(
            f"The right class ({CLASSES_TEXT}, as far as the record's model knows it: see its "
            "`classes`); required to correct, not allowed otherwise."
        ),
        schema_extra={"examples": ["meningioma", "other_tumour"]},
    )
    note: str | None = Field(
        default=None, max_length=2000, description="Free text for other readers."
    )


class Review(ReviewBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="record.id", ondelete="CASCADE", index=True)
    reviewer_key_id: int | None = Field(default=None, index=True)
    reviewer_name: str = Field(max_length=100)
    created_at: datetime = Field(
        default_factory=utc_now, sa_column=Column(UTCDateTime, nullable=False)
    )


class FilingContext(SQLModel, table=True):
    """Where a record's results belong in the hospital's archive: the original study's
    identifiers, as the image arrived (from a PACS pull, the DICOM listener, or an upload
    that asked for it with `keep_filing_context`).

    Held apart from the record, which stays de-identified like its stored image: no list,
    search, figure or record answer joins this table. Only the code that writes results
    back (api/interop/filing.py: the SR, the heatmap, FHIR, the PACS push, the listener's
    send) reads it. It goes with its record (api/services/records.py).
    """

    __tablename__ = "filing_context"

    # The record's own id, never a number of its own (no sequence on PostgreSQL).
    record_id: int | None = Field(
        default=None,
        primary_key=True,
        foreign_key="record.id",
        ondelete="CASCADE",
        sa_column_kwargs={"autoincrement": False},
    )
    # No length limits: they come from other systems' files, and a value a sender made too
    # long must not stop its image from being stored.
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    patient_id: str | None = None
    issuer_of_patient_id: str | None = None
    patient_name: str | None = None
    patient_birth_date: str | None = None  # DICOM DA, as sent
    patient_sex: str | None = None
    accession_number: str | None = None
    study_id: str | None = None
    study_date: str | None = None  # DICOM DA, as sent
    study_time: str | None = None  # DICOM TM, as sent
    study_description: str | None = None
    referring_physician_name: str | None = None

    def __repr_args__(self):
        # A stray log line or traceback shows which record, never whose study it is.
        return [("record_id", self.record_id)]


class StoredImage(SQLModel, table=True):
    """An uploaded image's bytes, when images are kept in the database
    (`MEDIMG_IMAGE_STORE=database`, api/storage.py): one row per distinct content, named by
    its SHA-256 as a file of the disk store is. No foreign key from the records: identical
    uploads share one row, which goes with the last record that uses it."""

    __tablename__ = "stored_image"

    sha256: str = Field(primary_key=True, max_length=SHA256_HEX_LENGTH)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    # The database's clock, not the writer's: replicas whose clocks differ still agree on
    # which orphans are old enough for the start-up check to remove (api/consistency.py).
    stored_at: datetime = Field(
        sa_column=Column(UTCDateTime, nullable=False, server_default=func.now())
    )


class ReviewCreate(ReviewBase):
    # A body naming the record's label, an id or a time is a mistake, not something to ignore.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"action": "confirm", "record_id": 12, "model_version": "0.12.0"},
                {"action": "correct", "label": "meningioma", "note": "Dural tail."},
                {"action": "correct", "label": "other_tumour", "note": "Vestibular schwannoma."},
                {"action": "reject", "note": "Not a brain slice."},
            ]
        },
    )

    # What the reviewer saw: the record and the model output on their screen. A client sends
    # both so that a review meant for one record cannot land on another (a page that moved
    # on, a stale tab); left out, the review applies to whatever the record holds.
    record_id: int | None = Field(
        default=None,
        description="The record reviewed; when given it must be the one in the path (else 409).",
    )
    model_version: str | None = Field(
        default=None,
        max_length=64,
        description=(
            "The version of the model whose output was reviewed; when given it must be the "
            "record's `model_version` (else 409)."
        ),
    )

    @model_validator(mode="after")
    def label_only_when_correcting(self) -> "ReviewCreate":
        if self.action == ReviewAction.CORRECT and self.label is None:
            raise ValueError("`label` is required to correct a record: give the right class.")
        if self.action != ReviewAction.CORRECT and self.label is not None:
            raise ValueError(
                f"`label` is only for action `correct`; leave it out to {self.action}."
            )
        return self


class ReviewPublic(ReviewBase):
    model_config = {"json_schema_extra": {"examples": [REVIEW_EXAMPLE]}}

    id: int
    record_id: int
    reviewer_key_id: int | None = Field(description="The reviewer's API key.")
    reviewer_name: str = Field(description="The name on the reviewer's API key.")
    created_at: datetime = Field(description="When the review was made (UTC).")


class ReviewsPublic(SQLModel):
    model_config = {"json_schema_extra": {"examples": [{"data": [REVIEW_EXAMPLE], "count": 1}]}}

    data: list[ReviewPublic]
    count: int = Field(description="Number of reviews of the record.")


class IdempotencyKey(SQLModel, table=True):
    """The first answer to a POST under a client's `Idempotency-Key`, replayed on a retry.

    Unique per caller and key: two concurrent requests with one key cannot both commit, so
    the loser reads the winner's answer instead of making a second record.
    """

    __table_args__ = (UniqueConstraint("caller_key_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=255)
    # 0 when the caller has no API key: a NULL would never collide in the unique constraint.
    caller_key_id: int
    request_sha256: str = Field(max_length=SHA256_HEX_LENGTH)
    # No foreign key: deleting a record must not be blocked by an old retry token.
    record_id: int | None = Field(default=None, index=True)
    status_code: int
    response: dict = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(
        default_factory=utc_now, sa_column=Column(UTCDateTime, nullable=False)
    )


class ClassificationResult(SQLModel):
    """One file of a batch: its record, or the problem that kept it from becoming one."""

    filename: str | None = Field(description="Name of the uploaded file, as sent.")
    status: int = Field(description="201 when a record was made, else the problem's 4xx.")
    record: RecordPublic | None = Field(description="The new record; null on a problem.")
    problem: Problem | None = Field(description="Why this file was refused; null on success.")


class ClassificationBatchPublic(SQLModel):
    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "results": [
                        {
                            "filename": "slice-042.jpg",
                            "status": 201,
                            "record": RECORD_EXAMPLE,
                            "problem": None,
                        },
                        {
                            "filename": "notes.pdf",
                            "status": 415,
                            "record": None,
                            "problem": {
                                "type": "about:blank",
                                "title": "Unsupported Media Type",
                                "status": 415,
                                "detail": "This file is not a PNG, JPEG or DICOM image.",
                                "instance": "/classify/batch",
                            },
                        },
                    ]
                }
            ]
        }
    }

    results: list[ClassificationResult] = Field(description="One result per file, in order.")


class ClassAgreement(SQLModel):
    label: str = Field(description="The class the model predicted.")
    confirmed: int = Field(description="Reviewed records of this prediction, confirmed.")
    corrected: int = Field(description="Reviewed records of this prediction, corrected.")
    rejected: int = Field(description="Reviewed records of this prediction, rejected.")
    agreement_rate: float | None = Field(
        description="confirmed / (confirmed + corrected); null before any such review. "
        "Rejections (unusable images) are not counted as disagreement."
    )


class DayCount(SQLModel):
    date: str = Field(description="A UTC calendar day, YYYY-MM-DD.")
    count: int = Field(description="Records created on that day.")


class StatsPublic(SQLModel):
    total: int = Field(description="Records counted.")
    by_finding: dict[str, int] = Field(
        description=(
            "Records per tumour-first finding (`tumour_suspected`, `indeterminate`, "
            "`no_tumour`). Out-of-distribution records and those of models before 0.7.0 "
            "have none and are not counted."
        )
    )
    by_label: dict[str, int] = Field(
        description=(
            "Records per predicted class; out-of-distribution records have none and are not "
            "counted."
        )
    )
    by_final_label: dict[str, int] = Field(
        description=(
            "Records per final label (reviewed, else predicted); rejected ones, and "
            "unreviewed out-of-distribution ones, excluded."
        )
    )
    by_review_status: dict[str, int] = Field(description="Records per review status.")
    by_modality: dict[str, int] = Field(
        description=(
            "Records per modality the recogniser saw (every modality listed), out-of-"
            "distribution ones included; records of models before 0.7.0 have none."
        )
    )
    by_body_part: dict[str, int] = Field(
        description="Records per body part the recogniser saw, as `by_modality`."
    )
    agreement: list[ClassAgreement] = Field(
        description="Review agreement per predicted class (out-of-distribution records excluded)."
    )
    per_day: list[DayCount] = Field(description="Records per UTC day, oldest first.")

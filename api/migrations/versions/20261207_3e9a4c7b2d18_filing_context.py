"""FilingContext: the original study's identifiers, held apart from the record.

For records from a PACS pull, the DICOM listener, or an upload made with
`keep_filing_context` (issue #27): what a result needs to be filed into the original study
(Study, Series and SOP Instance UIDs, and the patient and study attributes an SR or
Secondary Capture copies from its source: patient identifiers, accession number, study
date, time and description). A table of its own, keyed by the record, so that the records
and every answer made from them stay de-identified; only the result-writing path reads it.
Deleted with its record.

Revision ID: 3e9a4c7b2d18
Revises: 8c3d2f6a1e57
Create Date: 2026-12-07 11:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3e9a4c7b2d18"
down_revision: str | Sequence[str] | None = "8c3d2f6a1e57"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPTIONAL_COLUMNS = (
    "patient_id",
    "issuer_of_patient_id",
    "patient_name",
    "patient_birth_date",
    "patient_sex",
    "accession_number",
    "study_id",
    "study_date",
    "study_time",
    "study_description",
    "referring_physician_name",
)


def upgrade() -> None:
    op.create_table(
        "filing_context",
        sa.Column("record_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("study_instance_uid", sa.String(), nullable=False),
        sa.Column("series_instance_uid", sa.String(), nullable=False),
        sa.Column("sop_instance_uid", sa.String(), nullable=False),
        *(sa.Column(name, sa.String(), nullable=True) for name in OPTIONAL_COLUMNS),
        sa.ForeignKeyConstraint(["record_id"], ["record.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("record_id"),
    )


def downgrade() -> None:
    op.drop_table("filing_context")

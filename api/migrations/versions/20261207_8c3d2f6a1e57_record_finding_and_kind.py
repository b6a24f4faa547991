"""Record: the tumour-first finding and what the recogniser says the image is.

`finding` and `tumour_probability` (issue #24), `modality`, `body_part`, `kind` and
`kind_probability` (issue #25), each indexed with (created_at, id) where GET /records filters
on it. Nullable: records made before this revision have none of them.

Revision ID: 8c3d2f6a1e57
Revises: 5b1e7c2a9f40
Create Date: 2026-12-07 04:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8c3d2f6a1e57"
down_revision: str | Sequence[str] | None = "5b1e7c2a9f40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Filtered on in GET /records: (column, index name), the index leading with the column.
FILTERED = (
    ("finding", "ix_record_finding_created_at_id"),
    ("modality", "ix_record_modality_created_at_id"),
    ("body_part", "ix_record_body_part_created_at_id"),
)


def upgrade() -> None:
    with op.batch_alter_table("record", schema=None) as batch_op:
        batch_op.add_column(sa.Column("finding", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("tumour_probability", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("modality", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("body_part", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("kind", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("kind_probability", sa.Float(), nullable=True))
        for column, index in FILTERED:
            batch_op.create_index(index, [column, "created_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("record", schema=None) as batch_op:
        for _column, index in reversed(FILTERED):
            batch_op.drop_index(index)
        batch_op.drop_column("kind_probability")
        batch_op.drop_column("kind")
        batch_op.drop_column("body_part")
        batch_op.drop_column("modality")
        batch_op.drop_column("tumour_probability")
        batch_op.drop_column("finding")

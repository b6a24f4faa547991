"""Record: the tumour-first finding and what the recogniser says the image is.

`finding` and `tumour_probability` (issue #24), `modality`, `body_part`, `kind` and
`kind_probability` (issue #25), each indexed with (created_at, id) where GET /records filters
on it. Nullable: records made before this revision have none of them.

A filter on the class or the finding leaves out the records the input gate found out of
distribution, so those two indexes also hold `suitability`: counting the matching records
then reads no table row (the class's index is replaced by one that does).

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

# Filtered on in GET /records: index name and columns, led by the filtered column.
NEW_INDEXES = {
    "ix_record_finding_created_at_id_suitability": ["finding", "created_at", "id", "suitability"],
    "ix_record_modality_created_at_id": ["modality", "created_at", "id"],
    "ix_record_body_part_created_at_id": ["body_part", "created_at", "id"],
}
OLD_LABEL_INDEX = ("ix_record_label_created_at_id", ["label", "created_at", "id"])
LABEL_INDEX = (
    "ix_record_label_created_at_id_suitability",
    ["label", "created_at", "id", "suitability"],
)


def upgrade() -> None:
    with op.batch_alter_table("record", schema=None) as batch_op:
        batch_op.add_column(sa.Column("finding", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("tumour_probability", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("modality", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("body_part", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("kind", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("kind_probability", sa.Float(), nullable=True))
        for name, columns in NEW_INDEXES.items():
            batch_op.create_index(name, columns, unique=False)
        batch_op.drop_index(OLD_LABEL_INDEX[0])
        batch_op.create_index(*LABEL_INDEX, unique=False)


def downgrade() -> None:
    with op.batch_alter_table("record", schema=None) as batch_op:
        batch_op.drop_index(LABEL_INDEX[0])
        batch_op.create_index(*OLD_LABEL_INDEX, unique=False)
        for name in reversed(NEW_INDEXES):
            batch_op.drop_index(name)
        batch_op.drop_column("kind_probability")
        batch_op.drop_column("kind")
        batch_op.drop_column("body_part")
        batch_op.drop_column("modality")
        batch_op.drop_column("tumour_probability")
        batch_op.drop_column("finding")

"""Record: the model's embedding (similar cases) and the input gate's verdict.

Revision ID: 5b1e7c2a9f40
Revises: d0564f669354
Create Date: 2026-11-26 05:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b1e7c2a9f40"
down_revision: str | Sequence[str] | None = "d0564f669354"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: records made before this revision have neither an embedding nor a verdict.
    with op.batch_alter_table("record", schema=None) as batch_op:
        batch_op.add_column(sa.Column("suitability", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("suitability_score", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("suitability_reason", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("embedding", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("record", schema=None) as batch_op:
        batch_op.drop_column("embedding")
        batch_op.drop_column("suitability_reason")
        batch_op.drop_column("suitability_score")
        batch_op.drop_column("suitability")

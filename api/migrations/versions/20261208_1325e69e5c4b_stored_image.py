"""StoredImage: uploaded images kept in the database (MEDIMG_IMAGE_STORE=database).

One row per distinct image, keyed by its SHA-256 as a file of the disk store is named, so
that API replicas on one PostgreSQL server share nothing but the database (issue #30).
Created on SQLite too, where it stays empty (images stay on disk there), so that every
database at head has the same tables. Images already on disk are copied in by
`python -m api.images migrate-to-database`, not by this revision: a schema upgrade that
read every file would hold the migration lock for as long as the copy took.

Revision ID: 1325e69e5c4b
Revises: 3e9a4c7b2d18
Create Date: 2026-12-08 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1325e69e5c4b"
down_revision: str | Sequence[str] | None = "3e9a4c7b2d18"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stored_image",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column(
            "stored_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("sha256"),
    )


def downgrade() -> None:
    op.drop_table("stored_image")

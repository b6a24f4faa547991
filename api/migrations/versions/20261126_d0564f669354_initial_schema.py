"""Initial schema: the tables of api/models.py when migrations began.

`SQLModel.metadata.create_all` made this same schema before then, so api.db marks such a
database as being at this revision instead of creating its tables again.

Revision ID: d0564f669354
Revises:
Create Date: 2026-11-26 03:19:06.737874
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d0564f669354"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "apikey",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("apikey", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_apikey_key_hash"), ["key_hash"], unique=True)

    op.create_table(
        "auditevent",
        sa.Column("key_id", sa.Integer(), nullable=True),
        sa.Column("key_name", sa.String(length=100), nullable=True),
        sa.Column("key_role", sa.String(length=32), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("client_address", sa.String(length=64), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("auditevent", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_auditevent_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_auditevent_key_id"), ["key_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_auditevent_occurred_at"), ["occurred_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_auditevent_record_id"), ["record_id"], unique=False)

    op.create_table(
        "idempotencykey",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("caller_key_id", sa.Integer(), nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("caller_key_id", "key"),
    )
    with op.batch_alter_table("idempotencykey", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idempotencykey_record_id"), ["record_id"], unique=False
        )

    op.create_table(
        "record",
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.Column("image_sha256", sa.String(length=64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("source_system", sa.String(length=128), nullable=True),
        sa.Column("study_uid_hash", sa.String(length=64), nullable=True),
        sa.Column("series_uid_hash", sa.String(length=64), nullable=True),
        sa.Column("sop_uid_hash", sa.String(length=64), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_by_key_id", sa.Integer(), nullable=True),
        sa.Column("probabilities", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("review_status", sa.String(length=16), nullable=False),
        sa.Column("reviewed_label", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("record", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_record_created_at"), ["created_at"], unique=False)
        batch_op.create_index("ix_record_created_at_id", ["created_at", "id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_record_created_by_key_id"), ["created_by_key_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_record_image_sha256"), ["image_sha256"], unique=False)
        batch_op.create_index(batch_op.f("ix_record_label"), ["label"], unique=False)
        batch_op.create_index(
            "ix_record_label_created_at_id", ["label", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_record_model_version"), ["model_version"], unique=False
        )
        batch_op.create_index(
            "ix_record_model_version_created_at_id",
            ["model_version", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_record_review_status_created_at_id",
            ["review_status", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_record_series_uid_hash"), ["series_uid_hash"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_record_sop_uid_hash"), ["sop_uid_hash"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_record_source_system"), ["source_system"], unique=False
        )
        batch_op.create_index(
            "ix_record_source_system_created_at_id",
            ["source_system", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_record_study_uid_hash"), ["study_uid_hash"], unique=False
        )

    op.create_table(
        "review",
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=True),
        sa.Column("note", sa.String(length=2000), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("reviewer_key_id", sa.Integer(), nullable=True),
        sa.Column("reviewer_name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["record_id"], ["record.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("review", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_record_id"), ["record_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_review_reviewer_key_id"), ["reviewer_key_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("review", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_reviewer_key_id"))
        batch_op.drop_index(batch_op.f("ix_review_record_id"))

    op.drop_table("review")
    with op.batch_alter_table("record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_record_study_uid_hash"))
        batch_op.drop_index("ix_record_source_system_created_at_id")
        batch_op.drop_index(batch_op.f("ix_record_source_system"))
        batch_op.drop_index(batch_op.f("ix_record_sop_uid_hash"))
        batch_op.drop_index(batch_op.f("ix_record_series_uid_hash"))
        batch_op.drop_index("ix_record_review_status_created_at_id")
        batch_op.drop_index("ix_record_model_version_created_at_id")
        batch_op.drop_index(batch_op.f("ix_record_model_version"))
        batch_op.drop_index("ix_record_label_created_at_id")
        batch_op.drop_index(batch_op.f("ix_record_label"))
        batch_op.drop_index(batch_op.f("ix_record_image_sha256"))
        batch_op.drop_index(batch_op.f("ix_record_created_by_key_id"))
        batch_op.drop_index("ix_record_created_at_id")
        batch_op.drop_index(batch_op.f("ix_record_created_at"))

    op.drop_table("record")
    with op.batch_alter_table("idempotencykey", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotencykey_record_id"))

    op.drop_table("idempotencykey")
    with op.batch_alter_table("auditevent", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auditevent_record_id"))
        batch_op.drop_index(batch_op.f("ix_auditevent_occurred_at"))
        batch_op.drop_index(batch_op.f("ix_auditevent_key_id"))
        batch_op.drop_index(batch_op.f("ix_auditevent_action"))

    op.drop_table("auditevent")
    with op.batch_alter_table("apikey", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_apikey_key_hash"))

    op.drop_table("apikey")

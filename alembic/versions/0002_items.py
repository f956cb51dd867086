"""items, tags and transfer logs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

from core.db import utcnow

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("name", name=op.f("uq_tags_name")),
    )
    op.create_table(
        "items",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("title_search", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("is_public", sa.Boolean(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=utcnow(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=utcnow(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_items_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_items")),
    )
    # the list endpoint: visible = own or public, newest first, ties by id
    op.create_index("ix_items_owner_id_created_at", "items", ["owner_id", "created_at", "id"])
    op.create_index("ix_items_is_public_created_at", "items", ["is_public", "created_at", "id"])
    if op.get_bind().dialect.name == "postgresql":
        # substring search (LIKE '%…%') through trigrams; SQLite has no index that can serve it
        # (the model declares this one as an expression, which autogenerate on SQLite skips)
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.create_index(
            "ix_items_title_search_trgm",
            "items",
            ["title_search"],
            postgresql_using="gin",
            postgresql_ops={"title_search": "gin_trgm_ops"},
        )

    op.create_table(
        "item_tags",
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_item_tags_item_id_items"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name=op.f("fk_item_tags_tag_id_tags"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("item_id", "tag_id", name=op.f("pk_item_tags")),
    )
    op.create_index(op.f("ix_item_tags_tag_id"), "item_tags", ["tag_id"])

    op.create_table(
        "transfer_logs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("from_user_id", sa.Uuid(), nullable=True),
        sa.Column("to_user_id", sa.Uuid(), nullable=True),
        sa.Column(
            "transferred_at", sa.DateTime(timezone=True), server_default=utcnow(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["items.id"],
            name=op.f("fk_transfer_logs_item_id_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["from_user_id"],
            ["users.id"],
            name=op.f("fk_transfer_logs_from_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["to_user_id"],
            ["users.id"],
            name=op.f("fk_transfer_logs_to_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_logs")),
    )
    op.create_index(op.f("ix_transfer_logs_item_id"), "transfer_logs", ["item_id"])
    # deleting a user sets these to NULL: without indexes that is a scan of the log
    op.create_index(op.f("ix_transfer_logs_from_user_id"), "transfer_logs", ["from_user_id"])
    op.create_index(op.f("ix_transfer_logs_to_user_id"), "transfer_logs", ["to_user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_transfer_logs_to_user_id"), table_name="transfer_logs")
    op.drop_index(op.f("ix_transfer_logs_from_user_id"), table_name="transfer_logs")
    op.drop_index(op.f("ix_transfer_logs_item_id"), table_name="transfer_logs")
    op.drop_table("transfer_logs")
    op.drop_index(op.f("ix_item_tags_tag_id"), table_name="item_tags")
    op.drop_table("item_tags")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_items_title_search_trgm", table_name="items")
    op.drop_index("ix_items_is_public_created_at", table_name="items")
    op.drop_index("ix_items_owner_id_created_at", table_name="items")
    op.drop_table("items")
    op.drop_table("tags")

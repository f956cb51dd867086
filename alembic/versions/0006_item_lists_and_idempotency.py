"""item lists that scale (an index per sort order and visible part, maintained counts) and
idempotency keys

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-01

"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

revision: str = "0006"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SORT_COLUMNS = ("created_at", "updated_at", "title")
# as the list queries write them, so that both databases match the partial indexes
PUBLIC = {"postgresql_where": sa.text("is_public"), "sqlite_where": sa.text("is_public = 1")}
PRIVATE = {"postgresql_where": sa.text("NOT is_public"), "sqlite_where": sa.text("is_public = 0")}
# how many rows item_totals spreads its counts over (features/items/counts.py: SLOTS)
SLOTS = 16


def upgrade() -> None:
    # one index scan per visible part of a list, in every sort order (features/items/models.py)
    op.drop_index("ix_items_is_public_created_at", table_name="items")
    for name in SORT_COLUMNS:
        if name != "created_at":  # (owner_id, created_at, id) exists since 0002
            op.create_index(f"ix_items_owner_id_{name}", "items", ["owner_id", name, "id"])
        op.create_index(f"ix_items_public_{name}", "items", [name, "id"], **PUBLIC)
        op.create_index(f"ix_items_private_{name}", "items", [name, "id"], **PRIVATE)

    op.create_table(
        "item_counts",
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("public", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_item_counts_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("owner_id", name=op.f("pk_item_counts")),
    )
    op.create_table(
        "item_totals",
        sa.Column("slot", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("public", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("slot", name=op.f("pk_item_totals")),
    )
    # the counts of the items there already
    public = "CASE WHEN is_public THEN 1 ELSE 0 END"
    op.execute(
        "INSERT INTO item_counts (owner_id, total, public) "
        f"SELECT owner_id, count(*), sum({public}) FROM items GROUP BY owner_id"
    )
    op.execute(
        "INSERT INTO item_totals (slot, total, public) "
        f"SELECT 0, count(*), coalesce(sum({public}), 0) FROM items"
    )

    op.create_table(
        "idempotency_keys",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("target", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("claim", sa.Uuid(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("headers", sa.Text(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_idempotency_keys_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "target", "key", name=op.f("pk_idempotency_keys")),
    )
    # pruning expired keys
    op.create_index(op.f("ix_idempotency_keys_expires_at"), "idempotency_keys", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_idempotency_keys_expires_at"), table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    op.drop_table("item_totals")
    op.drop_table("item_counts")
    for name in reversed(SORT_COLUMNS):
        op.drop_index(f"ix_items_private_{name}", table_name="items")
        op.drop_index(f"ix_items_public_{name}", table_name="items")
        if name != "created_at":
            op.drop_index(f"ix_items_owner_id_{name}", table_name="items")
    op.create_index("ix_items_is_public_created_at", "items", ["is_public", "created_at", "id"])

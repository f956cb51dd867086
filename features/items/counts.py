"""Item counts kept exact by every write, so that a list's `total` costs a lookup.

`item_counts` holds each owner's items and public items; `item_totals` every item and every
public item, spread over SLOTS rows (the sums are the counts). Every write path of items
adjusts them in its own transaction, after the item rows it locks: create, bulk create, a
change of `is_public`, delete, transfer, and the deletion of an owner (before the cascade).

Lock order, the same on every path (so no deadlock between them): item rows, then owners'
count rows in id order, then one totals slot.
"""

import uuid
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from features.items.models import Item, ItemCount, ItemTotal
from features.users.models import User

SLOTS = 16


def _slot(owner_id: uuid.UUID) -> int:
    return owner_id.int % SLOTS


def _adding_upsert(session: AsyncSession, table: Any, key: str, rows: list[dict[str, Any]]) -> Any:
    """INSERT these rows, adding their counts to those of rows already there."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(rows)
    return statement.on_conflict_do_update(
        index_elements=[key],
        set_={
            "total": table.total + statement.excluded.total,
            "public": table.public + statement.excluded.public,
        },
    )


async def count_items(
    *, session: AsyncSession, owner_id: uuid.UUID, total: int, public: int
) -> None:
    """`total` items (`public` of them public) were added to `owner_id`'s (negative: removed)."""
    if not total and not public:
        return
    await session.execute(
        _adding_upsert(
            session,
            ItemCount,
            "owner_id",
            [{"owner_id": owner_id, "total": total, "public": public}],
        )
    )
    await session.execute(
        _adding_upsert(
            session,
            ItemTotal,
            "slot",
            [{"slot": _slot(owner_id), "total": total, "public": public}],
        )
    )


async def count_transfer(
    *, session: AsyncSession, from_id: uuid.UUID, to_id: uuid.UUID, public: bool
) -> None:
    """One item went from one owner to another (the totals do not change)."""
    changes = sorted([(from_id, -1), (to_id, 1)])  # lock order: by owner id
    rows = [
        {"owner_id": owner_id, "total": sign, "public": sign * int(public)}
        for owner_id, sign in changes
    ]
    await session.execute(_adding_upsert(session, ItemCount, "owner_id", rows))


async def forget_owner(*, session: AsyncSession, user_id: uuid.UUID) -> None:
    """Before a user is deleted: their items go (ON DELETE CASCADE), so do their counts."""
    # Their items first, then their counts (the lock order above): a concurrent write to one
    # of their items either finishes first, counted, or waits and finds the item gone.
    locked = select(col(Item.id)).where(col(Item.owner_id) == user_id).with_for_update()
    await session.execute(select(func.count()).select_from(locked.subquery()))
    gone = (
        await session.execute(
            delete(ItemCount)
            .where(col(ItemCount.owner_id) == user_id)
            .returning(col(ItemCount.total), col(ItemCount.public))
        )
    ).first()
    if gone is not None:
        await session.execute(
            _adding_upsert(
                session,
                ItemTotal,
                "slot",
                [{"slot": _slot(user_id), "total": -gone.total, "public": -gone.public}],
            )
        )


async def visible_total(*, session: AsyncSession, user: User, owner_only: bool) -> int:
    """How many items `user` sees (only their own with `owner_only`), without filters: the
    visibility rule (`service.visible_item_sets`) read off the counts, in one statement."""
    own = select(ItemCount).where(col(ItemCount.owner_id) == user.id).subquery()
    if owner_only:
        count = select(own.c.total)
    elif user.is_superuser:
        count = select(func.sum(col(ItemTotal.total)))
    else:
        # public ones, and one's own that are not public
        public = select(func.coalesce(func.sum(col(ItemTotal.public)), 0)).scalar_subquery()
        mine = select(own.c.total - own.c.public).scalar_subquery()
        count = select(public + func.coalesce(mine, 0))
    return int(await session.scalar(count) or 0)

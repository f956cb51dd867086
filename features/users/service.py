"""Queries over users."""

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.pagination import PageParams
from features.items.models import Item
from features.items.service import list_visible_items_of
from features.users.models import User


async def list_users(*, session: AsyncSession, page: PageParams) -> tuple[list[User], int]:
    """A page of users ordered by username, and how many there are in all."""
    total = await session.scalar(select(func.count()).select_from(User))
    users = await session.scalars(
        select(User)
        .order_by(func.lower(User.username), User.id)
        .offset(page.skip)
        .limit(page.limit)
    )
    return list(users), total or 0


async def list_users_with_items(
    *, session: AsyncSession, page: PageParams, viewer: User
) -> tuple[list[tuple[User, list[Item]]], int]:
    """A page of active users by username, each with the items `viewer` may see of theirs."""
    active = User.is_active.is_(True)
    total = await session.scalar(select(func.count()).select_from(User).where(active))
    users = list(
        await session.scalars(
            select(User)
            .where(active)
            .order_by(func.lower(User.username), User.id)
            .offset(page.skip)
            .limit(page.limit)
        )
    )
    # one query for every user's items (and one for their tags), whatever the page size
    items = await list_visible_items_of(
        session=session, owner_ids=[user.id for user in users], user=viewer
    )
    by_owner: dict[uuid.UUID, list[Item]] = {user.id: [] for user in users}
    for item in items:
        by_owner[item.owner_id].append(item)
    return [(user, by_owner[user.id]) for user in users], total or 0


async def get_user(*, session: AsyncSession, user_id: uuid.UUID) -> User | None:
    """The user with this id, if any."""
    return await session.get(User, user_id)

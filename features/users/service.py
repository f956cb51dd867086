"""Queries over users."""

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.pagination import PageParams
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


async def get_user(*, session: AsyncSession, user_id: uuid.UUID) -> User | None:
    """The user with this id, if any."""
    return await session.get(User, user_id)

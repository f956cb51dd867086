"""Queries over users, and their deletion with whatever other features keep of them."""

import uuid
from collections.abc import Awaitable
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from core.pagination import PageParams
from features.users.models import User


class UserCleanup(Protocol):
    """What a feature must do before one of its users' rows goes (comments keep threads whole,
    for one); what the database cascades needs none."""

    def __call__(self, *, session: AsyncSession, user_id: uuid.UUID) -> Awaitable[None]: ...


# Features add theirs with `on_user_deletion`, wired in main.py: users need not know them.
_cleanups: list[UserCleanup] = []


def on_user_deletion(cleanup: UserCleanup) -> None:
    """Run `cleanup(session=…, user_id=…)` before every user deletion, in its transaction."""
    if cleanup not in _cleanups:
        _cleanups.append(cleanup)


async def delete_user(*, session: AsyncSession, user: User) -> None:
    """Delete a user, after every feature's clean-up, all in the request's transaction."""
    for cleanup in _cleanups:
        await cleanup(session=session, user_id=user.id)
    await session.delete(user)
    await session.flush()


# the order users are listed in: by username ignoring case, ties by id
BY_USERNAME = (func.lower(col(User.username)), col(User.id))


async def list_users(*, session: AsyncSession, page: PageParams) -> tuple[list[User], int]:
    """A page of users ordered by username, and how many there are in all."""
    total = await session.scalar(select(func.count()).select_from(User))
    users = await session.scalars(
        select(User).order_by(*BY_USERNAME).offset(page.skip).limit(page.limit)
    )
    return list(users), total or 0


async def list_active_users(*, session: AsyncSession, page: PageParams) -> tuple[list[User], int]:
    """A page of active users ordered by username, and how many there are in all."""
    active = col(User.is_active).is_(True)
    total = await session.scalar(select(func.count()).select_from(User).where(active))
    users = await session.scalars(
        select(User).where(active).order_by(*BY_USERNAME).offset(page.skip).limit(page.limit)
    )
    return list(users), total or 0


async def get_user(*, session: AsyncSession, user_id: uuid.UUID) -> User | None:
    """The user with this id, if any."""
    return await session.get(User, user_id)

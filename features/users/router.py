"""Routes over users: one's own profile, and the superuser's administration."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from core.codes import ErrorCode
from core.db import SessionDep
from core.errors import BadRequest, NotFound, TooManyRequests, error_responses, raises
from core.pagination import Page, Pagination
from features.auth.dependencies import CurrentSuperuser, CurrentUser
from features.auth.manager import UserManagerDep
from features.auth.throttle import client_address
from features.items.models import Item, UserWithItems
from features.items.service import list_visible_items_of
from features.users import service
from features.users.models import (
    PASSWORD_RULE,
    User,
    UserAdminUpdate,
    UserRead,
    UserSelfUpdate,
)

router = APIRouter(prefix="/users", tags=["users"])

UPDATE_ERRORS = (
    BadRequest(ErrorCode.UPDATE_USER_EMAIL_ALREADY_EXISTS),
    BadRequest(ErrorCode.UPDATE_USER_USERNAME_ALREADY_EXISTS),
    BadRequest(ErrorCode.UPDATE_USER_INVALID_PASSWORD, reason=PASSWORD_RULE),
)


@raises(NotFound(ErrorCode.USER_NOT_FOUND))
async def valid_user_id(user_id: uuid.UUID, session: SessionDep) -> User:
    """The user named in the path, or 404."""
    user = await service.get_user(session=session, user_id=user_id)
    if user is None:
        raise NotFound(ErrorCode.USER_NOT_FOUND)
    return user


ValidUser = Annotated[User, Depends(valid_user_id)]


@router.get("/me", operation_id="users_me_read", summary="Read my account", response_model=UserRead)
async def read_me(user: CurrentUser) -> User:
    """The caller's own account."""
    return user


@router.patch(
    "/me",
    operation_id="users_me_update",
    summary="Change my account",
    response_model=UserRead,
    responses=error_responses(
        *UPDATE_ERRORS,
        BadRequest(ErrorCode.UPDATE_USER_BAD_CURRENT_PASSWORD),
        TooManyRequests(ErrorCode.LOGIN_TOO_MANY_ATTEMPTS, retry_after=1),
    ),
)
async def update_me(
    body: UserSelfUpdate, user: CurrentUser, manager: UserManagerDep, request: Request
) -> User:
    """Change one's own e-mail, username, full name or password."""
    changes = body.changes()
    changes.pop("current_password", None)
    return await manager.update_self(
        user, changes, current_password=body.current_password, address=client_address(request)
    )


@router.get("", operation_id="users_list", summary="List users", response_model=Page[UserRead])
async def list_users(_: CurrentSuperuser, session: SessionDep, page: Pagination) -> Page[UserRead]:
    """Every user, by username (superuser only)."""
    users, total = await service.list_users(session=session, page=page)
    return Page[UserRead].of(users, total, page)


# declared before /{user_id}, which would otherwise take "with-items" for an id
@router.get(
    "/with-items",
    operation_id="users_with_items_list",
    summary="List users with their items",
    response_model=Page[UserWithItems],
)
async def list_users_with_items(
    session: SessionDep, user: CurrentUser, page: Pagination
) -> Page[UserWithItems]:
    """Active users by username, each with the items the caller may see and their tags."""
    owners, total = await service.list_active_users(session=session, page=page)
    # one query for every listed user's items (and one for their tags), whatever the page size
    items = await list_visible_items_of(
        session=session, owner_ids=[owner.id for owner in owners], user=user
    )
    by_owner: dict[uuid.UUID, list[Item]] = {owner.id: [] for owner in owners}
    for item in items:
        by_owner[item.owner_id].append(item)
    entries = [
        {"id": o.id, "username": o.username, "full_name": o.full_name, "items": by_owner[o.id]}
        for o in owners
    ]
    return Page[UserWithItems].of(entries, total, page)


@router.get("/{user_id}", operation_id="users_read", summary="Read a user", response_model=UserRead)
async def read_user(_: CurrentSuperuser, user: ValidUser) -> User:
    """Any user's account (superuser only)."""
    return user


@router.patch(
    "/{user_id}",
    operation_id="users_update",
    summary="Change a user",
    response_model=UserRead,
    responses=error_responses(*UPDATE_ERRORS),
)
async def update_user(
    _: CurrentSuperuser, user: ValidUser, body: UserAdminUpdate, manager: UserManagerDep
) -> User:
    """Change any user, flags included (superuser only)."""
    return await manager.update_fields(user, body.changes())


@router.delete(
    "/{user_id}",
    operation_id="users_delete",
    summary="Delete a user",
    status_code=status.HTTP_204_NO_CONTENT,
)
async def delete_user(_: CurrentSuperuser, user: ValidUser, session: SessionDep) -> None:
    """Delete a user and everything they own (superuser only)."""
    await service.delete_user(session=session, user=user)

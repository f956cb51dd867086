"""Routes over users: one's own profile, and the superuser's administration."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi_users import InvalidPasswordException, exceptions

from core.db import SessionDep
from core.errors import NotFoundError, error_responses
from core.pagination import Page, Pagination
from features.auth.backend import CurrentSuperuser, CurrentUser, current_superuser
from features.auth.manager import UserManager, UserManagerDep, UsernameAlreadyExists
from features.auth.throttle import LoginThrottleDep, client_address
from features.comments.service import forget_author
from features.items.models import UserWithItems
from features.users import service
from features.users.models import User, UserAdminUpdate, UserRead, UserSelfUpdate

router = APIRouter(prefix="/users", tags=["users"], responses=error_responses(401))


async def valid_user_id(user_id: uuid.UUID, session: SessionDep) -> User:
    """The user named in the path, or 404."""
    user = await service.get_user(session=session, user_id=user_id)
    if user is None:
        raise NotFoundError("User")
    return user


ValidUser = Annotated[User, Depends(valid_user_id)]


async def _apply(
    manager: UserManager, user: User, changes: dict[str, object], request: Request
) -> User:
    try:
        return await manager.update_fields(user, changes, request)
    except exceptions.UserAlreadyExists:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, "UPDATE_USER_EMAIL_ALREADY_EXISTS"
        ) from None
    except UsernameAlreadyExists:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, "UPDATE_USER_USERNAME_ALREADY_EXISTS"
        ) from None
    except InvalidPasswordException as error:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            {"code": "UPDATE_USER_INVALID_PASSWORD", "reason": error.reason},
        ) from None


@router.get("/me", response_model=UserRead)
async def read_me(user: CurrentUser) -> User:
    """The caller's own account."""
    return user


@router.patch("/me", response_model=UserRead, responses=error_responses(400))
async def update_me(
    body: UserSelfUpdate,
    user: CurrentUser,
    manager: UserManagerDep,
    throttle: LoginThrottleDep,
    request: Request,
) -> User:
    """Change one's own e-mail, username, full name or password."""
    changes = body.changes()
    changes.pop("current_password", None)
    if "email" in changes or "password" in changes:
        # guesses at the current password are throttled like logins: a stolen token must not
        # become a way to find the password
        login, address = f"user:{user.id}", client_address(request)
        await throttle.ensure_allowed(login, address)
        verified = (
            body.current_password is not None
            and (await manager.verify_password(body.current_password, user.hashed_password))[0]
        )
        if not verified:
            await throttle.record_failure(login, address)
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "UPDATE_USER_BAD_CURRENT_PASSWORD")
    return await _apply(manager, user, changes, request)


@router.get(
    "",
    response_model=Page[UserRead],
    dependencies=[Depends(current_superuser)],
    responses=error_responses(403),
)
async def list_users(session: SessionDep, page: Pagination) -> Page[UserRead]:
    """Every user, by username (superuser only)."""
    users, total = await service.list_users(session=session, page=page)
    return Page[UserRead].of(users, total, page)


# declared before /{user_id}, which would otherwise take "with-items" for an id
@router.get("/with-items", response_model=Page[UserWithItems])
async def list_users_with_items(
    session: SessionDep, user: CurrentUser, page: Pagination
) -> Page[UserWithItems]:
    """Active users by username, each with the items the caller may see and their tags."""
    rows, total = await service.list_users_with_items(session=session, page=page, viewer=user)
    entries = [
        {"id": owner.id, "username": owner.username, "full_name": owner.full_name, "items": items}
        for owner, items in rows
    ]
    return Page[UserWithItems].of(entries, total, page)


@router.get("/{user_id}", response_model=UserRead, responses=error_responses(403, 404))
async def read_user(_: CurrentSuperuser, user: ValidUser) -> User:
    """Any user's account (superuser only)."""
    return user


@router.patch("/{user_id}", response_model=UserRead, responses=error_responses(400, 403, 404))
async def update_user(
    _: CurrentSuperuser,
    user: ValidUser,
    body: UserAdminUpdate,
    manager: UserManagerDep,
    request: Request,
) -> User:
    """Change any user, flags included (superuser only)."""
    return await _apply(manager, user, body.changes(), request)


@router.delete(
    "/{user_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(403, 404)
)
async def delete_user(
    _: CurrentSuperuser,
    user: ValidUser,
    manager: UserManagerDep,
    request: Request,
    session: SessionDep,
) -> None:
    """Delete a user and everything they own (superuser only)."""
    # their comments go, or stay as tombstones under others' replies; committed with the delete
    await forget_author(session=session, user_id=user.id)
    await manager.delete(user, request)

"""Who is calling: the bearer token and the user it belongs to, as dependencies every feature
chains on (`CurrentUser`, `CurrentSuperuser`)."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from core.codes import ErrorCode
from core.config import API_PREFIX
from core.db import SessionDep
from core.errors import Forbidden, Unauthorized, raises
from features.auth import tokens
from features.users.models import User

# Declares the OAuth2 password flow in OpenAPI (Swagger's Authorize dialog) and reads the
# `Authorization: Bearer …` header; a missing token is ours to answer.
bearer_scheme = OAuth2PasswordBearer(
    tokenUrl=f"{API_PREFIX}/auth/jwt/login",
    auto_error=False,
    description=(
        "Log in with your **username or e-mail** in the `username` field and your password "
        "(client id and secret stay empty). The token goes in `Authorization: Bearer <token>`."
    ),
)


@raises(Unauthorized())
async def bearer_token(token: Annotated[str | None, Depends(bearer_scheme)]) -> str:
    """The bearer token the request carries, or 401."""
    if not token:
        raise Unauthorized()
    return token


BearerToken = Annotated[str, Depends(bearer_token)]


@raises(Unauthorized())
async def current_user(request: Request, token: BearerToken, session: SessionDep) -> User:
    """The active user the request's token belongs to, or 401."""
    user = await tokens.user_for_token(session=session, token=token)
    if user is None or not user.is_active:
        raise Unauthorized()
    request.state.user_id = user.id
    return user


CurrentUser = Annotated[User, Depends(current_user)]


@raises(Forbidden(ErrorCode.FORBIDDEN))
async def current_superuser(user: CurrentUser) -> User:
    """The current user if a superuser, else 403."""
    if not user.is_superuser:
        raise Forbidden(ErrorCode.FORBIDDEN)
    return user


CurrentSuperuser = Annotated[User, Depends(current_superuser)]

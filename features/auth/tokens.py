"""Access tokens (JWTs) that can be revoked: one by one (logout), or all of a user's at once
(logout-all, password change, deactivation).

Each token carries a `jti` and a precise `iat`. A token is refused when its `jti` was revoked
or when it was issued before its user's `tokens_valid_after`. Both are checked in the one
statement that loads the user, so revocation costs no extra round trip.
"""

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import jwt
from fastapi_users.jwt import decode_jwt, generate_jwt
from sqlalchemy import delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from core.config import get_settings
from core.db import insert_or_ignore
from features.auth.models import RevokedToken
from features.users.models import User

ACCESS_AUDIENCE = ["fastapi-users:auth"]
ALGORITHM = "HS256"


def decode_token(token: str, secret: str, audience: list[str]) -> dict[str, Any]:
    """The verified claims of a JWT, with every malformed token raising a `jwt.PyJWTError`.

    A JWT is ASCII; on a lone surrogate PyJWT raises UnicodeEncodeError instead, which no
    caller expects (a 500).
    """
    if not token.isascii():
        raise jwt.DecodeError("token is not ASCII")
    return decode_jwt(token, secret, audience, [ALGORITHM])


def issue_access_token(user: User) -> str:
    """A bearer token for `user`, valid for ACCESS_TOKEN_EXPIRE_MINUTES."""
    settings = get_settings()
    claims = {
        "sub": str(user.id),
        "aud": ACCESS_AUDIENCE[0],
        "jti": uuid.uuid4().hex,
        # sub-second: a login right after a logout-all must not fall in the same second
        "iat": time.time(),
    }
    lifetime = settings.access_token_expire_minutes * 60
    return generate_jwt(claims, settings.secret_key, lifetime, ALGORITHM)


def _claims(token: str) -> dict[str, Any] | None:
    """The verified claims of a well-formed access token of ours, else None."""
    try:
        claims = decode_token(token, get_settings().secret_key, ACCESS_AUDIENCE)
    except jwt.PyJWTError:
        return None
    if not all(isinstance(claims.get(key), str) for key in ("sub", "jti")):
        return None
    if not isinstance(claims.get("iat"), int | float):
        return None
    return claims


async def user_for_token(*, session: AsyncSession, token: str) -> User | None:
    """The user a valid, unrevoked access token belongs to, else None (active or not)."""
    claims = _claims(token)
    if claims is None:
        return None
    try:
        user_id = uuid.UUID(claims["sub"])
    except ValueError:
        return None
    revoked = exists().where(col(RevokedToken.jti) == claims["jti"])
    row = (await session.execute(select(User, revoked).where(col(User.id) == user_id))).first()
    if row is None or row[1]:
        return None
    user: User = row[0]
    valid_after = user.tokens_valid_after
    if valid_after is not None and claims["iat"] <= valid_after.timestamp():
        return None
    return user


async def revoke_token(*, session: AsyncSession, token: str) -> None:
    """Refuse this token from now on (logout); expired revocations are pruned meanwhile."""
    claims = _claims(token)
    if claims is None:
        return
    now = datetime.now(UTC)
    await session.execute(delete(RevokedToken).where(col(RevokedToken.expires_at) < now))
    # a second logout with the same token, even a concurrent one, finds it revoked already
    await session.execute(
        insert_or_ignore(session, RevokedToken, index_elements=["jti"]).values(
            jti=claims["jti"], expires_at=datetime.fromtimestamp(claims["exp"], UTC)
        )
    )

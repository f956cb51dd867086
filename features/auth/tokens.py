"""JWTs that can be revoked: one by one (logout), or all of a user's at once (logout-all,
password change, deactivation).

Each token carries a `jti` and a precise `iat`. A token is refused when its `jti` was revoked
or when it was issued before its user's `tokens_valid_after`. Both are checked in the one
statement that loads the user, so revocation costs no extra round trip.
"""

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import jwt
from fastapi_users import exceptions
from fastapi_users.authentication import JWTStrategy
from fastapi_users.jwt import generate_jwt
from sqlalchemy import delete, exists, select
from sqlalchemy.ext.asyncio import async_object_session

from core.db import insert_or_ignore
from features.auth.manager import UserManager, decode_token
from features.auth.models import RevokedToken
from features.users.models import User


class RevocableJWTStrategy(JWTStrategy[User, uuid.UUID]):
    async def write_token(self, user: User) -> str:
        claims = {
            "sub": str(user.id),
            "aud": self.token_audience,
            "jti": uuid.uuid4().hex,
            # sub-second: a login right after a logout-all must not fall in the same second
            "iat": time.time(),
        }
        return generate_jwt(claims, self.encode_key, self.lifetime_seconds, self.algorithm)

    def _claims(self, token: str) -> dict[str, Any] | None:
        """The verified claims of a well-formed token of ours, else None."""
        try:
            claims = decode_token(
                token, self.decode_key, self.token_audience, algorithms=[self.algorithm]
            )
        except jwt.PyJWTError:
            return None
        if not all(isinstance(claims.get(key), str) for key in ("sub", "jti")):
            return None
        if not isinstance(claims.get("iat"), int | float):
            return None
        return claims

    async def read_token(self, token: str | None, user_manager: UserManager) -> User | None:  # type: ignore[override]
        claims = None if token is None else self._claims(token)
        if claims is None:
            return None
        try:
            user_id = user_manager.parse_id(claims["sub"])
        except exceptions.InvalidID:
            return None
        revoked = exists().where(RevokedToken.jti == claims["jti"])
        row = (
            await user_manager.user_db.session.execute(
                select(User, revoked).where(User.id == user_id)
            )
        ).first()
        if row is None or row[1]:
            return None
        user: User = row[0]
        valid_after = user.tokens_valid_after
        if valid_after is not None and claims["iat"] <= valid_after.timestamp():
            return None
        return user

    async def destroy_token(self, token: str, user: User) -> None:
        claims = self._claims(token)
        session = async_object_session(user)
        if claims is None or session is None:
            return
        now = datetime.now(UTC)
        await session.execute(delete(RevokedToken).where(RevokedToken.expires_at < now))
        # a second logout with the same token, even a concurrent one, finds it revoked already
        await session.execute(
            insert_or_ignore(session, RevokedToken, index_elements=["jti"]).values(
                jti=claims["jti"], expires_at=datetime.fromtimestamp(claims["exp"], UTC)
            )
        )
        await session.commit()

"""The fastapi-users user manager: login by e-mail or username, our password policy, and
password hashing kept off the event loop."""

import hashlib
import hmac
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Annotated, Any

import jwt
from anyio import to_thread
from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from fastapi_users import BaseUserManager, InvalidPasswordException, UUIDIDMixin, exceptions
from fastapi_users.jwt import decode_jwt, generate_jwt
from fastapi_users_db_sqlalchemy import SQLAlchemyUserDatabase
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from core.config import get_settings
from core.db import SessionDep
from core.validation import is_storable
from features.auth.email import EmailMessage, EmailSender, get_email_sender
from features.users.models import User

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128


class UsernameAlreadyExists(exceptions.FastAPIUsersException):
    pass


def decode_token(
    token: str, secret: str, audience: list[str], algorithms: list[str] | None = None
) -> dict[str, Any]:
    """fastapi-users' `decode_jwt`, with every malformed token raising a `jwt.PyJWTError`.

    A JWT is ASCII; on a lone surrogate PyJWT raises UnicodeEncodeError instead, which no
    caller expects (a 500).
    """
    if not token.isascii():
        raise jwt.DecodeError("token is not ASCII")
    return decode_jwt(token, secret, audience, algorithms or ["HS256"])


class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
    user_db: SQLAlchemyUserDatabase[User, uuid.UUID]

    def __init__(self, user_db: SQLAlchemyUserDatabase[User, uuid.UUID], sender: EmailSender):
        super().__init__(user_db)
        self.sender = sender
        secret = get_settings().secret_key
        self.reset_password_token_secret = secret
        self.verification_token_secret = secret

    # -- hashing: argon2 takes tens of milliseconds of CPU; run it in a worker thread --

    async def hash_password(self, password: str) -> str:
        await self._end_read_transaction()
        return await to_thread.run_sync(self.password_helper.hash, password)

    async def verify_password(self, password: str, hashed: str) -> tuple[bool, str | None]:
        await self._end_read_transaction()
        return await to_thread.run_sync(self.password_helper.verify_and_update, password, hashed)

    async def _end_read_transaction(self) -> None:
        """Close a transaction that has only read, so that no lock (SQLite's write lock above
        all) is held through the tens of milliseconds a hash takes; writes start a new one."""
        session = self.user_db.session
        if session.in_transaction() and not (session.new or session.dirty or session.deleted):
            await session.commit()  # expire_on_commit=False: loaded users stay usable

    # -- lookups --

    async def find_by_login(self, identifier: str) -> User | None:
        """The user whose e-mail or username is `identifier`, ignoring case."""
        if not is_storable(identifier):
            return None  # no stored login holds NUL; PostgreSQL would refuse the query (503)
        # the database lowers both sides, as its unique indexes do (SQLite folds ASCII only)
        lowered = func.lower(identifier)
        statement = select(User).where(
            or_(func.lower(User.email) == lowered, func.lower(User.username) == lowered)
        )
        return (await self.user_db.session.scalars(statement)).first()

    async def _taken(self, column: Any, value: str, *, except_id: uuid.UUID | None) -> bool:
        statement = select(User.id).where(func.lower(column) == func.lower(value))
        if except_id is not None:
            statement = statement.where(User.id != except_id)
        return (await self.user_db.session.scalars(statement.limit(1))).first() is not None

    # -- policy --

    async def validate_password(self, password: str, user: Any) -> None:
        """8–128 characters, and not the e-mail or username of `user`."""
        if not is_storable(password):
            # reset-password takes a plain str: a lone surrogate would crash the hasher (500)
            raise InvalidPasswordException(
                reason="Password must not contain NUL characters or unpaired surrogates"
            )
        if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
            raise InvalidPasswordException(
                reason=f"Password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"
            )
        lowered = password.lower()
        if lowered in (user.email.lower(), user.username.lower()):
            raise InvalidPasswordException(reason="Password must differ from e-mail and username")

    # -- fastapi-users overrides --

    async def authenticate(self, credentials: OAuth2PasswordRequestForm) -> User | None:
        user = await self.find_by_login(credentials.username)
        if user is None:
            # hash anyway, so an unknown login takes as long as a wrong password
            await self.hash_password(credentials.password)
            return None
        verified, new_hash = await self.verify_password(credentials.password, user.hashed_password)
        if not verified:
            return None
        if new_hash is not None:
            await self.user_db.update(user, {"hashed_password": new_hash})
        return user

    async def create(
        self, user_create: Any, safe: bool = False, request: Request | None = None
    ) -> User:
        """Register a user; privileges are never taken from the request body."""
        await self.validate_password(user_create.password, user_create)
        if await self._taken(User.email, user_create.email, except_id=None) or await self._taken(
            User.username, user_create.username, except_id=None
        ):
            raise exceptions.UserAlreadyExists()
        values = user_create.model_dump(include={"email", "username", "full_name"})
        values["hashed_password"] = await self.hash_password(user_create.password)
        try:
            user = await self.user_db.create(values)
        except IntegrityError:
            # a concurrent registration won the race to the unique index
            await self.user_db.session.rollback()
            raise exceptions.UserAlreadyExists() from None
        await self.on_after_register(user, request)
        return user

    async def _update(self, user: User, update_dict: dict[str, Any]) -> User:
        changes: dict[str, Any] = {}
        for field, value in update_dict.items():
            # a change of case only is still a change (and cannot collide with oneself)
            if field == "email" and value != user.email:
                if await self._taken(User.email, value, except_id=user.id):
                    raise exceptions.UserAlreadyExists()
                changes["email"] = value
                if value.lower() != user.email.lower():
                    changes["is_verified"] = False  # another mailbox, not yet proven
            elif field == "username" and value != user.username:
                if await self._taken(User.username, value, except_id=user.id):
                    raise UsernameAlreadyExists()
                changes["username"] = value
            elif field == "password":
                continue  # checked below, against the e-mail and username it will live with
            else:
                changes[field] = value
        if update_dict.get("password") is not None:
            password = update_dict["password"]
            identity = SimpleNamespace(
                email=changes.get("email", user.email),
                username=changes.get("username", user.username),
            )
            await self.validate_password(password, identity)
            changes["hashed_password"] = await self.hash_password(password)
        if "hashed_password" in changes or changes.get("is_active") is False:
            # a new password or a deactivation ends every session opened before it
            changes["tokens_valid_after"] = datetime.now(UTC)
        user_id = user.id  # the rollback below expires `user`
        try:
            return await self.user_db.update(user, changes)
        except IntegrityError:
            # a concurrent change took the name first: say which one, as the pre-check would
            await self.user_db.session.rollback()
            username = changes.get("username")
            if username and await self._taken(User.username, username, except_id=user_id):
                raise UsernameAlreadyExists() from None
            raise exceptions.UserAlreadyExists() from None

    async def update_fields(
        self, user: User, changes: dict[str, Any], request: Request | None = None
    ) -> User:
        """Apply already-authorized field changes, with the uniqueness and password rules."""
        updated = await self._update(user, changes)
        await self.on_after_update(updated, changes, request)
        return updated

    async def revoke_all_tokens(self, user: User) -> None:
        """Refuse every token issued to `user` until now (logout everywhere)."""
        await self.user_db.update(user, {"tokens_valid_after": datetime.now(UTC)})

    def _password_fingerprint(self, user: User) -> str:
        """Ties a reset token to the password it was issued for, so it works once. An HMAC, not
        a password hash: as cheap for a known e-mail as the answer for an unknown one."""
        key = self.reset_password_token_secret.encode()
        return hmac.new(key, user.hashed_password.encode(), hashlib.sha256).hexdigest()

    async def forgot_password(self, user: User, request: Request | None = None) -> None:
        if not user.is_active:
            raise exceptions.UserInactive()
        token_data = {
            "sub": str(user.id),
            "password_fgpt": self._password_fingerprint(user),
            "aud": self.reset_password_token_audience,
        }
        token = generate_jwt(
            token_data, self.reset_password_token_secret, self.reset_password_token_lifetime_seconds
        )
        await self.on_after_forgot_password(user, token, request)

    async def reset_password(
        self, token: str, password: str, request: Request | None = None
    ) -> User:
        try:
            data = decode_token(
                token, self.reset_password_token_secret, [self.reset_password_token_audience]
            )
            user_id = self.parse_id(data["sub"])
            fingerprint = data["password_fgpt"]
        except (jwt.PyJWTError, KeyError, exceptions.InvalidID):
            raise exceptions.InvalidResetPasswordToken() from None
        user = await self.get(user_id)
        # the fingerprint ties the token to the password it was issued for: it works once
        if not hmac.compare_digest(str(fingerprint), self._password_fingerprint(user)):
            raise exceptions.InvalidResetPasswordToken()
        if not user.is_active:
            raise exceptions.UserInactive()
        updated = await self._update(user, {"password": password})
        await self.on_after_reset_password(user, request)
        return updated

    async def verify(self, token: str, request: Request | None = None) -> User:
        if not token.isascii():  # see decode_token
            raise exceptions.InvalidVerifyToken()
        return await super().verify(token, request)

    # -- messages --

    async def _send_token(self, user: User, subject: str, route: str, token: str) -> None:
        body = f"Use this token with POST /api/v1/auth/{route}: {token}"
        await self.sender.send(EmailMessage(to=user.email, subject=subject, body=body))

    async def on_after_forgot_password(
        self, user: User, token: str, request: Request | None = None
    ) -> None:
        await self._send_token(user, "Reset your password", "reset-password", token)

    async def on_after_request_verify(
        self, user: User, token: str, request: Request | None = None
    ) -> None:
        await self._send_token(user, "Verify your e-mail address", "verify", token)


async def get_user_db(session: SessionDep) -> AsyncIterator[SQLAlchemyUserDatabase]:
    yield SQLAlchemyUserDatabase(session, User)


async def get_user_manager(
    user_db: Annotated[SQLAlchemyUserDatabase, Depends(get_user_db)],
    sender: Annotated[EmailSender, Depends(get_email_sender)],
) -> AsyncIterator[UserManager]:
    yield UserManager(user_db, sender)


UserManagerDep = Annotated[UserManager, Depends(get_user_manager)]

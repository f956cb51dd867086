"""The user manager: every rule about accounts — login by e-mail or username, the password
policy, uniqueness, the current-password check and its throttle, reset and verification tokens —
on top of fastapi-users' `BaseUserManager`, with password hashing kept off the event loop.

Its public methods raise our domain errors with the contract's codes; fastapi-users' own
exceptions stay inside this module. Nothing here commits: the request's unit of work does.
"""

import hashlib
import hmac
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Annotated, Any, TypeVar

import jwt
from anyio import to_thread
from fastapi import Depends
from fastapi.security import OAuth2PasswordRequestForm
from fastapi_users import BaseUserManager, InvalidPasswordException, UUIDIDMixin, exceptions
from fastapi_users.jwt import generate_jwt
from fastapi_users_db_sqlalchemy import SQLAlchemyUserDatabase
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from core.codes import ErrorCode
from core.config import API_PREFIX, get_settings
from core.db import SessionDep, end_read_only_transaction
from core.errors import BadRequest
from core.validation import is_storable
from features.auth.email import EmailMessage, EmailSender, get_email_sender
from features.auth.models import LoginForm
from features.auth.throttle import LoginThrottle, LoginThrottleDep
from features.auth.tokens import decode_token
from features.users.models import User

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128
# longer than any e-mail can be: refused before it costs a hash or a throttle entry
MAX_LOGIN_LENGTH = 320

T = TypeVar("T")


class UserDatabase(SQLAlchemyUserDatabase[User, uuid.UUID]):
    """fastapi-users' adapter without its own commits: writes are flushed, and the request's
    unit of work commits them with everything else it did (or rolls them back)."""

    async def create(self, create_dict: dict[str, Any]) -> User:
        user = User(**create_dict)
        self.session.add(user)
        await self.session.flush()
        return user

    async def update(self, user: User, update_dict: dict[str, Any]) -> User:
        for key, value in update_dict.items():
            setattr(user, key, value)
        self.session.add(user)
        await self.session.flush()
        return user

    async def delete(self, user: User) -> None:
        await self.session.delete(user)
        await self.session.flush()


class UsernameAlreadyExists(exceptions.FastAPIUsersException):
    pass


class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
    user_db: UserDatabase
    reset_password_token_secret: str
    verification_token_secret: str

    def __init__(self, user_db: UserDatabase, sender: EmailSender, throttle: LoginThrottle):
        super().__init__(user_db)
        self.sender = sender
        self.throttle = throttle
        secret = get_settings().secret_key
        self.reset_password_token_secret = secret
        self.verification_token_secret = secret

    @property
    def session(self) -> AsyncSession:
        return self.user_db.session

    # -- hashing: argon2 takes tens of milliseconds of CPU; run it in a worker thread --

    async def _off_the_loop(self, function: Callable[..., T], *args: Any) -> T:
        # no lock may be held through the hash (SQLite's write lock above all)
        await end_read_only_transaction(self.session)
        return await to_thread.run_sync(function, *args)

    async def hash_password(self, password: str) -> str:
        return await self._off_the_loop(self.password_helper.hash, password)

    async def verify_password(self, password: str, hashed: str) -> tuple[bool, str | None]:
        return await self._off_the_loop(self.password_helper.verify_and_update, password, hashed)

    # -- lookups --

    async def find_by_login(self, identifier: str) -> User | None:
        """The user whose e-mail or username is `identifier`, ignoring case."""
        if not is_storable(identifier):
            return None  # no stored login holds NUL; PostgreSQL would refuse the query (503)
        # the database lowers both sides, as its unique indexes do (SQLite folds ASCII only)
        lowered = func.lower(identifier)
        statement = select(User).where(
            or_(func.lower(col(User.email)) == lowered, func.lower(col(User.username)) == lowered)
        )
        return (await self.session.scalars(statement)).first()

    async def _taken(self, column: Any, value: str, *, except_id: uuid.UUID | None) -> bool:
        statement = select(col(User.id)).where(func.lower(column) == func.lower(value))
        if except_id is not None:
            statement = statement.where(col(User.id) != except_id)
        return (await self.session.scalars(statement.limit(1))).first() is not None

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

    # -- login --

    async def log_in(self, credentials: LoginForm, *, address: str) -> User:
        """The active user these credentials belong to; else 400, or 429 after too many
        failures for this login from this address (then no password is checked)."""
        bad_credentials = BadRequest(ErrorCode.LOGIN_BAD_CREDENTIALS)
        if len(credentials.username) > MAX_LOGIN_LENGTH:
            raise bad_credentials
        await self.throttle.ensure_allowed(credentials.username, address)
        user = await self.authenticate(credentials)
        if user is None or not user.is_active:
            await self.throttle.record_failure(credentials.username, address)
            raise bad_credentials
        await self.throttle.record_success(credentials.username, address)
        return user

    async def authenticate(self, credentials: OAuth2PasswordRequestForm | LoginForm) -> User | None:
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

    async def check_current_password(
        self, user: User, current_password: str | None, *, address: str
    ) -> None:
        """400 unless `current_password` is the user's password; guesses are throttled like
        logins (429), so a stolen token cannot be used to find the password."""
        login = f"user:{user.id}"
        await self.throttle.ensure_allowed(login, address)
        verified = (
            current_password is not None
            and (await self.verify_password(current_password, user.hashed_password))[0]
        )
        if not verified:
            await self.throttle.record_failure(login, address)
            raise BadRequest(ErrorCode.UPDATE_USER_BAD_CURRENT_PASSWORD)

    # -- registration and changes --

    async def register(self, user_create: Any) -> User:
        """Create a user; privileges are never taken from the request body."""
        try:
            await self.validate_password(user_create.password, user_create)
        except InvalidPasswordException as error:
            raise BadRequest(
                ErrorCode.REGISTER_INVALID_PASSWORD, reason=str(error.reason)
            ) from None
        already_exists = BadRequest(ErrorCode.REGISTER_USER_ALREADY_EXISTS)
        if await self._taken(
            col(User.email), user_create.email, except_id=None
        ) or await self._taken(col(User.username), user_create.username, except_id=None):
            raise already_exists
        values = user_create.model_dump(include={"email", "username", "full_name"})
        values["hashed_password"] = await self.hash_password(user_create.password)
        try:
            # a savepoint: a concurrent registration that won the race to the unique index
            # fails this insert alone, and the request answers 400 instead of a 500
            async with self.session.begin_nested():
                return await self.user_db.create(values)
        except IntegrityError:
            raise already_exists from None

    async def _update(self, user: User, update_dict: dict[str, Any]) -> User:
        changes: dict[str, Any] = {}
        for field, value in update_dict.items():
            # a change of case only is still a change (and cannot collide with oneself)
            if field == "email" and value != user.email:
                if await self._taken(col(User.email), value, except_id=user.id):
                    raise exceptions.UserAlreadyExists()
                changes["email"] = value
                if value.lower() != user.email.lower():
                    changes["is_verified"] = False  # another mailbox, not yet proven
            elif field == "username" and value != user.username:
                if await self._taken(col(User.username), value, except_id=user.id):
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
        user_id = user.id  # the savepoint's rollback expires `user`
        try:
            async with self.session.begin_nested():
                return await self.user_db.update(user, changes)
        except IntegrityError:
            # a concurrent change took the name first: say which one, as the pre-check would
            username = changes.get("username")
            if username and await self._taken(col(User.username), username, except_id=user_id):
                raise UsernameAlreadyExists() from None
            raise exceptions.UserAlreadyExists() from None

    async def update_fields(self, user: User, changes: dict[str, Any]) -> User:
        """Apply already-authorized field changes, with the uniqueness and password rules."""
        try:
            return await self._update(user, changes)
        except exceptions.UserAlreadyExists:
            raise BadRequest(ErrorCode.UPDATE_USER_EMAIL_ALREADY_EXISTS) from None
        except UsernameAlreadyExists:
            raise BadRequest(ErrorCode.UPDATE_USER_USERNAME_ALREADY_EXISTS) from None
        except InvalidPasswordException as error:
            raise BadRequest(
                ErrorCode.UPDATE_USER_INVALID_PASSWORD, reason=str(error.reason)
            ) from None

    async def update_self(
        self, user: User, changes: dict[str, Any], *, current_password: str | None, address: str
    ) -> User:
        """The user's own changes: a new e-mail or password needs the current password."""
        if "email" in changes or "password" in changes:
            await self.check_current_password(user, current_password, address=address)
        return await self.update_fields(user, changes)

    async def revoke_all_tokens(self, user: User) -> None:
        """Refuse every token issued to `user` until now (logout everywhere)."""
        await self.user_db.update(user, {"tokens_valid_after": datetime.now(UTC)})

    # -- password reset --

    def _password_fingerprint(self, user: User) -> str:
        """Ties a reset token to the password it was issued for, so it works once. An HMAC, not
        a password hash: as cheap for a known e-mail as the answer for an unknown one."""
        key = self.reset_password_token_secret.encode()
        return hmac.new(key, user.hashed_password.encode(), hashlib.sha256).hexdigest()

    async def send_reset_token(self, email: str) -> None:
        """Mail a reset token to the active user with this e-mail; silently nothing otherwise
        (the answer must not tell whether the address is known)."""
        user = await self.user_db.get_by_email(email)
        if user is None or not user.is_active:
            return
        token_data = {
            "sub": str(user.id),
            "password_fgpt": self._password_fingerprint(user),
            "aud": self.reset_password_token_audience,
        }
        secret, lifetime = (
            self.reset_password_token_secret,
            self.reset_password_token_lifetime_seconds,
        )
        token = generate_jwt(token_data, secret, lifetime)
        await self._send_token(user, "Reset your password", "reset-password", token)

    async def reset_password_with_token(self, token: str, password: str) -> User:
        """Set a new password with a reset token; the token then works no more."""
        bad_token = BadRequest(ErrorCode.RESET_PASSWORD_BAD_TOKEN)
        try:
            data = decode_token(
                token, self.reset_password_token_secret, [self.reset_password_token_audience]
            )
            user_id = self.parse_id(data["sub"])
            fingerprint = data["password_fgpt"]
        except (jwt.PyJWTError, KeyError, exceptions.InvalidID):
            raise bad_token from None
        user = await self.user_db.get(user_id)
        # the fingerprint ties the token to the password it was issued for: it works once
        if user is None or not hmac.compare_digest(
            str(fingerprint), self._password_fingerprint(user)
        ):
            raise bad_token
        if not user.is_active:
            raise bad_token
        try:
            return await self._update(user, {"password": password})
        except InvalidPasswordException as error:
            raise BadRequest(
                ErrorCode.RESET_PASSWORD_INVALID_PASSWORD, reason=str(error.reason)
            ) from None

    # -- e-mail verification --

    async def send_verify_token(self, email: str) -> None:
        """Mail a verification token to this e-mail's active, unverified user; else nothing."""
        user = await self.user_db.get_by_email(email)
        if user is None:
            return
        try:
            await self.request_verify(user)
        except (exceptions.UserInactive, exceptions.UserAlreadyVerified):
            return

    async def verify_with_token(self, token: str) -> User:
        """Mark the user a verification token names as verified."""
        if not token.isascii():  # see decode_token
            raise BadRequest(ErrorCode.VERIFY_USER_BAD_TOKEN)
        try:
            return await self.verify(token)
        except (exceptions.InvalidVerifyToken, exceptions.UserNotExists):
            raise BadRequest(ErrorCode.VERIFY_USER_BAD_TOKEN) from None
        except exceptions.UserAlreadyVerified:
            raise BadRequest(ErrorCode.VERIFY_USER_ALREADY_VERIFIED) from None

    # -- messages --

    async def _send_token(self, user: User, subject: str, route: str, token: str) -> None:
        body = f"Use this token with POST {API_PREFIX}/auth/{route}: {token}"
        await self.sender.send(EmailMessage(to=user.email, subject=subject, body=body))

    async def on_after_request_verify(self, user: User, token: str, request: Any = None) -> None:
        await self._send_token(user, "Verify your e-mail address", "verify", token)


async def get_user_manager(
    session: SessionDep,
    sender: Annotated[EmailSender, Depends(get_email_sender)],
    throttle: LoginThrottleDep,
) -> UserManager:
    return UserManager(UserDatabase(session, User), sender, throttle)


UserManagerDep = Annotated[UserManager, Depends(get_user_manager)]

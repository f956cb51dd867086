"""What the auth feature stores (the tokens revoked before they expire) and the shapes of its
requests and answers."""

from datetime import datetime
from typing import Literal

from pydantic import EmailStr
from sqlmodel import Field, SQLModel

from core.db import UTCDateTime


class RevokedToken(SQLModel, table=True):
    """A token logged out before its expiry. Rows past `expires_at` serve no purpose and are
    pruned at the next logout."""

    __tablename__ = "revoked_tokens"

    jti: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)


class AccessToken(SQLModel):
    """What a login answers: a bearer token for the Authorization header."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"


class EmailAddress(SQLModel):
    """Where to send a reset or verification token."""

    email: EmailStr


class PasswordReset(SQLModel):
    token: str
    password: str


class VerificationToken(SQLModel):
    token: str


class LoginForm(SQLModel):
    """The OAuth2 password flow's form: `username` may be the e-mail or the username."""

    grant_type: str | None = Field(default=None, regex="^password$")
    username: str
    password: str
    scope: str = ""

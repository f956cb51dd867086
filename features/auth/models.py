"""What the auth feature stores (the tokens revoked before they expire) and the shapes of its
requests and answers."""

from datetime import datetime
from typing import Annotated, Literal

from sqlmodel import Field, SQLModel

from core.db import UTCDateTime
from core.openapi import Stated, schema_examples
from features.users.models import PASSWORD_POLICY, Email


class RevokedToken(SQLModel, table=True):
    """A token logged out before its expiry. Rows past `expires_at` serve no purpose and are
    pruned at the next logout."""

    __tablename__ = "revoked_tokens"

    jti: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)


class AccessToken(SQLModel):
    """What a login answers: a bearer token for the Authorization header."""

    model_config = schema_examples(
        {"access_token": "eyJhbGciOiJIUzI1NiJ9.…", "token_type": "bearer"}
    )

    access_token: str
    token_type: Literal["bearer"] = "bearer"


class EmailAddress(SQLModel):
    """Where to send a reset or verification token."""

    model_config = schema_examples({"email": "ada@example.com"})

    email: Email


class PasswordReset(SQLModel):
    """A reset token (from the e-mail) and the new password."""

    model_config = schema_examples(
        {"token": "the token from the e-mail", "password": "difference-engine"}
    )

    token: str
    password: Annotated[str, PASSWORD_POLICY]


class VerificationToken(SQLModel):
    """A verification token, from the e-mail."""

    model_config = schema_examples({"token": "the token from the e-mail"})

    token: str


# longer than any e-mail can be: answered 400 LOGIN_BAD_CREDENTIALS (see the user manager)
LOGIN_MAX_LENGTH = 320


class LoginForm(SQLModel):
    """The OAuth2 password flow's form: `username` may be the e-mail or the username."""

    model_config = schema_examples({"username": "ada", "password": "analytical-engine"})

    grant_type: str | None = Field(default=None, regex="^password$")
    username: Annotated[
        str,
        Stated(
            maxLength=LOGIN_MAX_LENGTH,
            description="The username or the e-mail address (longer than "
            f"{LOGIN_MAX_LENGTH} characters: 400 `LOGIN_BAD_CREDENTIALS`)",
        ),
    ]
    password: str
    scope: str = ""

"""The user table and the shapes a user is read and written in."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import EmailStr, StringConstraints
from sqlalchemy import Index, func
from sqlmodel import Field, SQLModel

from core.db import Timestamped, UTCDateTime
from core.openapi import Stated, schema_examples
from core.validation import CleanStr, StrippedStr

USERNAME_PATTERN = r"^[A-Za-z0-9_.-]+$"

# the password policy (features/auth/manager.py judges it; a test holds the two together)
PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 128
PASSWORD_RULE = f"Password must be {PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters"
# what email-validator accepts (RFC 5321 counts octets: a non-ASCII address may be refused sooner)
EMAIL_MAX_LENGTH = 254

Username = Annotated[
    str,
    StringConstraints(min_length=3, max_length=50, pattern=USERNAME_PATTERN),
    Stated(description="3–50 ASCII letters, digits, `_`, `.`, `-`; unique ignoring case"),
]
Email = Annotated[
    EmailStr,
    Stated(maxLength=EMAIL_MAX_LENGTH, description="A valid address, unique ignoring case"),
]
FullName = Annotated[StrippedStr, StringConstraints(max_length=100)]
# Length and strength are the user manager's to judge: the contract answers them with a 400,
# so the schema states the length without pydantic enforcing it (which would answer 422).
PASSWORD_POLICY = Stated(
    minLength=PASSWORD_MIN_LENGTH,
    maxLength=PASSWORD_MAX_LENGTH,
    description=f"{PASSWORD_MIN_LENGTH}–{PASSWORD_MAX_LENGTH} characters, not the e-mail or the "
    "username; the password policy answers 400 (`…_INVALID_PASSWORD`) otherwise",
)
Password = Annotated[CleanStr, PASSWORD_POLICY]


class UserBase(SQLModel):
    email: str = Field(max_length=320)
    username: str = Field(max_length=50)
    full_name: str | None = Field(default=None, max_length=100)


class User(UserBase, Timestamped, table=True):
    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    hashed_password: str = Field(max_length=1024)
    is_active: bool = Field(default=True)
    is_superuser: bool = Field(default=False)
    is_verified: bool = Field(default=False)
    # tokens issued up to this time are refused: set by logout-all, password changes and
    # deactivation (see features/auth/tokens.py)
    tokens_valid_after: datetime | None = Field(default=None, sa_type=UTCDateTime)


# Uniqueness ignoring case is the database's to enforce: two racing registrations cannot both
# pass a pre-check and both land.
Index("uq_users_email_lower", func.lower(User.email), unique=True)
Index("uq_users_username_lower", func.lower(User.username), unique=True)


class UserCreate(SQLModel):
    """A new account; `is_superuser`, `is_active` and `is_verified` in the body are ignored."""

    model_config = schema_examples(
        {
            "email": "ada@example.com",
            "username": "ada",
            "password": "analytical-engine",
            "full_name": "Ada Lovelace",
        }
    )

    email: Email
    username: Username
    password: Password
    full_name: FullName | None = None


ADA_ID = "0b5e5d2c-3a7e-4c1f-9a43-8d3f1e2b7c61"


class UserPublic(SQLModel):
    """What one user may see of another: no e-mail, no flags."""

    model_config = schema_examples({"id": ADA_ID, "username": "ada", "full_name": "Ada Lovelace"})

    id: uuid.UUID
    username: str
    full_name: str | None


class UserRead(UserPublic):
    """An account as its owner (or a superuser) sees it."""

    model_config = schema_examples(
        {
            "id": ADA_ID,
            "email": "ada@example.com",
            "username": "ada",
            "full_name": "Ada Lovelace",
            "is_active": True,
            "is_superuser": False,
            "is_verified": False,
            "created_at": "2026-11-02T09:30:00Z",
            "updated_at": "2026-11-02T09:30:00Z",
        }
    )

    email: str
    is_active: bool
    is_superuser: bool
    is_verified: bool
    created_at: datetime
    updated_at: datetime


class UserChanges(SQLModel):
    """Fields sent in a PATCH; an explicit null clears only what may be empty."""

    def changes(self) -> dict[str, object]:
        sent = self.model_dump(exclude_unset=True)
        return {
            field: value
            for field, value in sent.items()
            if value is not None or field == "full_name"
        }


class UserSelfUpdate(UserChanges):
    """What users may change of themselves; e-mail and password need the current password."""

    # changes the name only: runs as it is, with no current password to know
    model_config = schema_examples({"full_name": "Ada King"})

    email: Email | None = None
    username: Username | None = None
    # null clears it
    full_name: FullName | None = None
    password: Password | None = None
    current_password: CleanStr | None = Field(
        default=None,
        description="Required to change `email` or `password` (400 "
        "`UPDATE_USER_BAD_CURRENT_PASSWORD` when missing or wrong; wrong guesses are throttled)",
    )


class UserAdminUpdate(UserChanges):
    """What a superuser may change of any user."""

    model_config = schema_examples({"is_verified": True})

    email: Email | None = None
    username: Username | None = None
    full_name: FullName | None = None
    password: Password | None = None
    is_active: bool | None = None
    is_superuser: bool | None = None
    is_verified: bool | None = None

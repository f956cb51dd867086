"""The user table and the shapes a user is read and written in."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import EmailStr, StringConstraints
from sqlalchemy import Index, func
from sqlmodel import Field, SQLModel

from core.db import Timestamped, UTCDateTime
from core.validation import CleanStr, StrippedStr

USERNAME_PATTERN = r"^[A-Za-z0-9_.-]+$"

Username = Annotated[str, StringConstraints(min_length=3, max_length=50, pattern=USERNAME_PATTERN)]
FullName = Annotated[StrippedStr, StringConstraints(max_length=100)]
# Length and strength are the user manager's to judge: the contract answers them with a 400.
Password = CleanStr


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
    email: EmailStr
    username: Username
    password: Password
    full_name: FullName | None = None


class UserPublic(SQLModel):
    """What one user may see of another: no e-mail, no flags."""

    id: uuid.UUID
    username: str
    full_name: str | None


class UserRead(UserPublic):
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

    email: EmailStr | None = None
    username: Username | None = None
    full_name: FullName | None = None
    password: Password | None = None
    current_password: Password | None = None


class UserAdminUpdate(UserChanges):
    """What a superuser may change of any user."""

    email: EmailStr | None = None
    username: Username | None = None
    full_name: FullName | None = None
    password: Password | None = None
    is_active: bool | None = None
    is_superuser: bool | None = None
    is_verified: bool | None = None

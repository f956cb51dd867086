"""What the auth feature stores: the tokens revoked before they expire."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from core.db import UTCDateTime


class RevokedToken(SQLModel, table=True):
    """A token logged out before its expiry. Rows past `expires_at` serve no purpose and are
    pruned at the next logout."""

    __tablename__ = "revoked_tokens"

    jti: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)

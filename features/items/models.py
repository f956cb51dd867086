"""The item, tag and transfer-log tables and the shapes items are read and written in."""

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, StringConstraints, field_validator
from pydantic import Field as PydanticField
from sqlalchemy import BigInteger, Index, Text, literal_column
from sqlmodel import Field, Relationship, SQLModel, col

from core.db import Timestamped, UTCDateTime, utcnow
from core.openapi import Stated, schema_examples
from core.validation import CleanStr, StrippedStr
from features.users.models import ADA_ID, User, UserPublic

TITLE_MAX = 100
DESCRIPTION_MAX = 10_000
TAG_MAX = 30
TAGS_PER_ITEM_MAX = 20
BULK_MAX = 500


def fold_title(title: str) -> str:
    """The form titles are searched in: case-folded in Python, the same on every database.

    SQLite's LOWER() and LIKE fold ASCII only, PostgreSQL's depend on the server's locale; a
    column written by the application makes "ÄPFEL" find "äpfel" (and "STRASSE" "Straße") on both.
    """
    return title.casefold()


def fold_tag(name: str) -> str:
    """The stored form of a tag name: stripped and lower-cased."""
    return name.strip().lower()


# -- tables --


class ItemTag(SQLModel, table=True):
    """Which tags an item carries."""

    __tablename__ = "item_tags"

    item_id: uuid.UUID = Field(foreign_key="items.id", ondelete="CASCADE", primary_key=True)
    # the primary key serves lookups by item; this index serves the `tag` filter
    tag_id: int = Field(foreign_key="tags.id", ondelete="CASCADE", primary_key=True, index=True)


class Tag(SQLModel, table=True):
    """A tag name, stored once (lower-case) and shared by every item carrying it."""

    __tablename__ = "tags"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=TAG_MAX, unique=True)


class Item(Timestamped, table=True):
    __tablename__ = "items"
    # Substring search (LIKE '%…%') can use a trigram index on PostgreSQL; SQLite has none. The
    # column is written as an expression so that autogenerate on SQLite skips the index (it
    # cannot compare those) while PostgreSQL compares it in full; created on PostgreSQL only.
    __table_args__ = (
        Index(
            "ix_items_title_search_trgm",
            literal_column("title_search").label("title_search"),
            postgresql_using="gin",
            postgresql_ops={"title_search": "gin_trgm_ops"},
        ).ddl_if(dialect="postgresql"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    title: str = Field(max_length=TITLE_MAX)
    # fold_title(title), written by the service with every title: what `search` matches
    title_search: str = Field(sa_type=Text)
    description: str | None = Field(default=None, sa_type=Text)
    is_public: bool = Field(default=False)
    owner_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE")

    # lazy="raise": a forgotten selectinload/joinedload fails in tests instead of querying
    owner: User = Relationship(sa_relationship_kwargs={"lazy": "raise"})
    tags: list[Tag] = Relationship(
        link_model=ItemTag,
        # links go with their item through ON DELETE CASCADE, with no collection load
        sa_relationship_kwargs={"lazy": "raise", "passive_deletes": True},
    )


# Lists read one index scan per disjoint part of what the caller sees (see
# `service.visible_item_sets`), in the order asked for, ties broken by id: so the first page
# reads about `limit` rows whatever the table's size, and a cursor resumes inside the index.
# For each sort column: the owner's items, the public ones, the private ones (superusers see
# the public and the private ones). The partial indexes' conditions are written as the list
# queries write theirs (`is_public` / `NOT is_public`), so that both databases match them.
SORT_COLUMNS = {"created_at": Item.created_at, "updated_at": Item.updated_at, "title": Item.title}
for _name, _column in SORT_COLUMNS.items():
    Index(f"ix_items_owner_id_{_name}", col(Item.owner_id), col(_column), col(Item.id))
    Index(
        f"ix_items_public_{_name}",
        col(_column),
        col(Item.id),
        postgresql_where=col(Item.is_public),
        sqlite_where=col(Item.is_public) == True,  # noqa: E712 - the SQL `is_public = 1`
    )
    Index(
        f"ix_items_private_{_name}",
        col(_column),
        col(Item.id),
        postgresql_where=~col(Item.is_public),
        sqlite_where=~col(Item.is_public),
    )
del _name, _column


class ItemCount(SQLModel, table=True):
    """How many items one owner has, and how many of those are public.

    Kept exact by every write, in the writing transaction (features/items/counts.py), so that
    a list's `total` is a lookup rather than a count of every visible row.
    """

    __tablename__ = "item_counts"

    owner_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", primary_key=True)
    total: int = Field(default=0, sa_type=BigInteger)
    public: int = Field(default=0, sa_type=BigInteger)


class ItemTotal(SQLModel, table=True):
    """Every item and every public item, counted over a few slots: writers of different
    owners update different rows (a single row would make every write in the system queue for
    its lock). The counts are the sums over all slots."""

    __tablename__ = "item_totals"

    slot: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    total: int = Field(default=0, sa_type=BigInteger)
    public: int = Field(default=0, sa_type=BigInteger)


class TransferLog(SQLModel, table=True):
    """One change of an item's owner. A deleted user's id is forgotten; the entry stays."""

    __tablename__ = "transfer_logs"
    __mapper_args__ = {"eager_defaults": True}

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    item_id: uuid.UUID = Field(foreign_key="items.id", ondelete="CASCADE", index=True)
    from_user_id: uuid.UUID | None = Field(
        default=None, foreign_key="users.id", ondelete="SET NULL", index=True
    )
    to_user_id: uuid.UUID | None = Field(
        default=None, foreign_key="users.id", ondelete="SET NULL", index=True
    )
    transferred_at: datetime | None = Field(
        default=None,
        nullable=False,
        sa_type=UTCDateTime,
        sa_column_kwargs={"server_default": utcnow()},
    )


# -- schemas --


def _fold_tags(names: list[str]) -> list[str]:
    folded = sorted({fold_tag(name) for name in names})
    if len(folded) > TAGS_PER_ITEM_MAX:
        raise ValueError(f"at most {TAGS_PER_ITEM_MAX} distinct tags")
    # lower-casing may lengthen a name ("İ" becomes two characters)
    if any(len(name) > TAG_MAX for name in folded):
        raise ValueError(f"a tag has at most {TAG_MAX} characters")
    return folded


Title = Annotated[StrippedStr, StringConstraints(min_length=1, max_length=TITLE_MAX)]
Description = Annotated[CleanStr, StringConstraints(max_length=DESCRIPTION_MAX)]
TagName = Annotated[StrippedStr, StringConstraints(min_length=1, max_length=TAG_MAX)]
# stored lower-case, duplicates folded, sorted; the bound applies to the distinct names (a
# duplicate costs nothing), which JSON Schema cannot say: maxItems is what a client may rely on
TagNames = Annotated[
    list[TagName],
    AfterValidator(_fold_tags),
    Stated(
        maxItems=TAGS_PER_ITEM_MAX,
        description=f"At most {TAGS_PER_ITEM_MAX} distinct names, each 1–{TAG_MAX} characters; "
        "stored lower-case, duplicates folded, returned sorted",
    ),
]

ITEM_EXAMPLE = {
    "title": "Notes on the engine",
    "description": "Sketches of the analytical engine, with a table of Bernoulli numbers.",
    "is_public": True,
    "tags": ["history", "math"],
}
ITEM_ID = "5f0c1c1e-8d2b-4f7a-b3a9-2e6d4c8a9b10"
ITEM_READ_EXAMPLE = {
    "id": ITEM_ID,
    **ITEM_EXAMPLE,
    "owner": {"id": ADA_ID, "username": "ada", "full_name": "Ada Lovelace"},
    "owner_id": ADA_ID,
    "created_at": "2026-11-02T09:31:00Z",
    "updated_at": "2026-11-02T09:31:00Z",
}


class ItemCreate(SQLModel):
    """A new item (or, for PUT, every field of one: those left out return to their defaults)."""

    model_config = schema_examples(ITEM_EXAMPLE)

    title: Title
    description: Description | None = None
    is_public: bool = False
    tags: TagNames = Field(
        default_factory=list, schema_extra={"json_schema_extra": {"default": []}}
    )


class ItemUpdate(SQLModel):
    """Fields sent in a PATCH; only these change. Only `description` may be sent as null."""

    model_config = schema_examples({"is_public": False})

    title: Title | None = None
    description: Description | None = None
    is_public: bool | None = None
    tags: TagNames | None = None

    @field_validator("title", "is_public", "tags", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # runs only for fields that were sent: defaults are not validated
        if value is None:
            raise ValueError("may be left out, not null")
        return value

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class ItemRead(SQLModel):
    model_config = schema_examples(ITEM_READ_EXAMPLE)

    id: uuid.UUID
    title: str
    description: str | None
    is_public: bool
    tags: list[str]
    owner: UserPublic
    owner_id: uuid.UUID
    created_at: datetime
    updated_at: datetime

    @field_validator("tags", mode="before")
    @classmethod
    def _tag_names(cls, value: Any) -> Any:
        return sorted(tag if isinstance(tag, str) else tag.name for tag in value)


BulkItems = Annotated[
    list[ItemCreate],
    PydanticField(
        min_length=1,
        max_length=BULK_MAX,
        examples=[[ITEM_EXAMPLE, {"title": "Letters to Babbage", "tags": ["history"]}]],
    ),
]


class BulkResult(SQLModel):
    model_config = schema_examples({"created": 1, "items": [ITEM_READ_EXAMPLE]})

    created: int
    items: list[ItemRead]


class TransferRequest(SQLModel):
    """Who gets the item: an active user other than its owner."""

    model_config = schema_examples({"new_owner_id": "9d7a4e36-1c5b-4e0f-8a2d-6b3f0c9e1a47"})

    new_owner_id: uuid.UUID = Field(
        description="The new owner's id (`GET /users/with-items` lists active users)"
    )


class TransferRead(SQLModel):
    model_config = schema_examples(
        {
            "id": "c2a9e4b7-5d1f-4e3a-9b8c-7f6e5d4c3b2a",
            "item_id": ITEM_ID,
            "from_user_id": ADA_ID,
            "to_user_id": "9d7a4e36-1c5b-4e0f-8a2d-6b3f0c9e1a47",
            "transferred_at": "2026-11-02T10:00:00Z",
        }
    )

    id: uuid.UUID
    item_id: uuid.UUID
    from_user_id: uuid.UUID | None
    to_user_id: uuid.UUID | None
    transferred_at: datetime


class UserWithItems(UserPublic):
    """A user as others see them, with the items the caller may see."""

    model_config = schema_examples(
        {
            "id": ADA_ID,
            "username": "ada",
            "full_name": "Ada Lovelace",
            "items": [ITEM_READ_EXAMPLE],
        }
    )

    items: list[ItemRead]

"""The comment table and the shapes comments are read and written in."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import StringConstraints
from sqlalchemy import Index
from sqlmodel import Field, SQLModel, col

from core.db import Timestamped
from core.openapi import schema_examples
from core.validation import StrippedStr
from features.users.models import UserPublic

CONTENT_MAX = 5_000
# How deep replies may nest (a top-level comment is at depth 0). The answer nests one JSON object
# per level, and pydantic refuses to serialize much beyond ~250 levels: the bound keeps every
# thread readable.
MAX_DEPTH = 200


class Comment(Timestamped, table=True):
    """A comment on an item, or a reply to one; a tombstone once deleted while it has replies."""

    __tablename__ = "comments"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    item_id: uuid.UUID = Field(foreign_key="items.id", ondelete="CASCADE")
    # NULL on a tombstone; the index serves user deletion (and its SET NULL)
    author_id: uuid.UUID | None = Field(
        default=None, foreign_key="users.id", ondelete="SET NULL", index=True
    )
    # NULL on a top-level comment; the index serves "the replies of these comments" (the
    # recursive load of a thread) and the ON DELETE CASCADE of a removed comment's replies
    parent_id: uuid.UUID | None = Field(
        default=None, foreign_key="comments.id", ondelete="CASCADE", index=True
    )
    content: str = Field(max_length=CONTENT_MAX)
    is_deleted: bool = Field(default=False)


# "The top-level comments of an item, oldest first" (parent_id IS NULL) and "every comment of an
# item" (the prefix) in one index.
Index(
    "ix_comments_item_id_parent_id_created_at",
    col(Comment.item_id),
    col(Comment.parent_id),
    col(Comment.created_at),
    col(Comment.id),
)


Content = Annotated[StrippedStr, StringConstraints(min_length=1, max_length=CONTENT_MAX)]


class CommentCreate(SQLModel):
    """A comment on the item, or with `parent_id` a reply to one of its comments."""

    model_config = schema_examples({"content": "Lovely notes: where is note G?"})

    content: Content
    parent_id: uuid.UUID | None = Field(
        default=None, description="The comment of this item replied to; null for a new thread"
    )


class CommentUpdate(SQLModel):
    model_config = schema_examples({"content": "Lovely notes: where is note G, please?"})

    content: Content


class CommentRead(SQLModel):
    """A comment with its whole reply tree, oldest first at every level."""

    model_config = schema_examples(
        {
            "id": "e3b1c9d2-4a5f-4b6c-8d7e-9f0a1b2c3d4e",
            "item_id": "5f0c1c1e-8d2b-4f7a-b3a9-2e6d4c8a9b10",
            "parent_id": None,
            "content": "Lovely notes: where is note G?",
            "author": {
                "id": "0b5e5d2c-3a7e-4c1f-9a43-8d3f1e2b7c61",
                "username": "ada",
                "full_name": "Ada Lovelace",
            },
            "is_deleted": False,
            "created_at": "2026-11-02T09:40:00Z",
            "updated_at": "2026-11-02T09:40:00Z",
            "replies": [],
        }
    )

    id: uuid.UUID
    item_id: uuid.UUID
    parent_id: uuid.UUID | None
    content: str
    author: UserPublic | None
    is_deleted: bool
    created_at: datetime
    updated_at: datetime
    replies: list["CommentRead"] = Field(default_factory=list)

"""Queries over comments: threads loaded set-wise, tombstones, and forgetting an author.

A thread is read in a fixed number of statements whatever its depth and size: the page of
top-level comments, then every descendant of those at once through a recursive CTE (SQLite and
PostgreSQL both have them); the tree is put together in Python.

A deleted comment that still has replies stays as a tombstone (no content, no author) and keeps
its place. Every write here keeps one invariant: a tombstone always has a live comment below it.
So a tombstone left without replies goes too, and so on up the chain.
"""

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import CTE, Integer, Row, Select, delete, func, literal_column, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from core.codes import ErrorCode
from core.errors import BadRequest, Forbidden, NotFound
from core.pagination import (
    KeysetOrder,
    KeysetParams,
    decode_cursor,
    encode_cursor,
    literal_count,
    position_of,
)
from features.comments.models import MAX_DEPTH, Comment, CommentRead
from features.items.models import Item
from features.items.service import visible_items_filter
from features.users.models import User, UserPublic

# what a comment is read as: its columns and its author's public ones, no ORM objects
_READ_COLUMNS: tuple[Any, ...] = (
    col(Comment.id),
    col(Comment.item_id),
    col(Comment.parent_id),
    col(Comment.content),
    col(Comment.is_deleted),
    col(Comment.created_at),
    col(Comment.updated_at),
    col(User.id).label("author_id"),
    col(User.username).label("author_username"),
    col(User.full_name).label("author_full_name"),
)
_ORDER = (col(Comment.created_at), col(Comment.id))
# top-level comments are paged by cursor in that same order
_TOP_LEVEL_ORDER = KeysetOrder(
    column=col(Comment.created_at), id_column=col(Comment.id), descending=False
)
# what a tombstone keeps of a comment: its place (id, item, parent, created_at)
_TOMBSTONE = {"is_deleted": True, "content": "", "author_id": None}


def _read_statement() -> Select[Any]:
    return select(*_READ_COLUMNS).outerjoin(User, col(User.id) == col(Comment.author_id))


def _row_to_read(row: Row[Any]) -> CommentRead:
    # Rows come typed from the database: construct without re-validating each of a thread's
    # possibly hundreds of comments (validation was most of the endpoint's CPU time).
    author = None
    if row.author_id is not None:
        author = UserPublic.model_construct(
            id=row.author_id, username=row.author_username, full_name=row.author_full_name
        )
    return CommentRead.model_construct(
        id=row.id,
        item_id=row.item_id,
        parent_id=row.parent_id,
        content=row.content,
        author=author,
        is_deleted=row.is_deleted,
        created_at=row.created_at,
        updated_at=row.updated_at,
        replies=[],
    )


def _comment_to_read(comment: Comment, author: User | None) -> CommentRead:
    return CommentRead.model_validate(
        {
            **comment.model_dump(include=set(CommentRead.model_fields) - {"author", "replies"}),
            "author": UserPublic.model_validate(author) if author is not None else None,
        }
    )


async def _descendants(
    *, session: AsyncSession, root_ids: Sequence[uuid.UUID]
) -> list[CommentRead]:
    """Every comment below `root_ids`, at any depth, oldest first: one statement."""
    if not root_ids:
        return []
    tree = (
        select(col(Comment.id))
        .where(col(Comment.parent_id).in_(root_ids))
        .cte("tree", recursive=True)
    )
    tree = tree.union_all(select(col(Comment.id)).join(tree, col(Comment.parent_id) == tree.c.id))
    rows = await session.execute(
        _read_statement().join(tree, tree.c.id == col(Comment.id)).order_by(*_ORDER)
    )
    return [_row_to_read(row) for row in rows]


def _attach(roots: Iterable[CommentRead], replies: Sequence[CommentRead]) -> None:
    """Hang every reply under its parent, keeping the order given (oldest first): O(n)."""
    nodes = {node.id: node for node in roots}
    nodes.update((reply.id, reply) for reply in replies)
    for reply in replies:
        if reply.parent_id is not None:
            nodes[reply.parent_id].replies.append(reply)


async def list_thread(
    *, session: AsyncSession, item_id: uuid.UUID, page: KeysetParams
) -> tuple[list[CommentRead], int | None, str | None]:
    """A page of an item's top-level comments, each with its whole reply tree; their count
    (None when not asked for); the cursor of the next page (None on the last one)."""
    top_level = [col(Comment.item_id) == item_id, col(Comment.parent_id).is_(None)]
    total = None
    if page.include_total:
        count = select(func.count()).select_from(Comment).where(*top_level)
        total = await session.scalar(count) or 0
    scope = {"item": str(item_id)}  # a cursor is good for this thread only
    dialect = session.get_bind().dialect.name
    after = []
    if page.cursor is not None:
        after.append(_TOP_LEVEL_ORDER.after(decode_cursor(page.cursor, scope=scope), dialect))
    rows = (
        await session.execute(
            _read_statement()
            .add_columns(_TOP_LEVEL_ORDER.key_column(None, dialect).label("sort_key"))
            .where(*top_level, *after)
            .order_by(*_ORDER)
            .offset(literal_count(page.skip))
            .limit(literal_count(page.limit + 1))  # one more: does another page follow?
        )
    ).all()
    next_cursor = None
    if len(rows) > page.limit:
        rows = rows[: page.limit]
        next_cursor = encode_cursor(position_of(rows[-1].sort_key, rows[-1].id), scope=scope)
    roots = [_row_to_read(row) for row in rows]
    replies = await _descendants(session=session, root_ids=[root.id for root in roots])
    _attach(roots, replies)
    return roots, total, next_cursor


# -- who may do what --


def ensure_can_edit(*, comment: Comment, user: User) -> None:
    """403 unless `user` wrote `comment`: not even a superuser changes another's words."""
    if comment.author_id != user.id:
        raise Forbidden(ErrorCode.COMMENT_AUTHOR_ONLY)


def ensure_can_delete(*, comment: Comment, item_owner_id: uuid.UUID, user: User) -> None:
    """403 unless `user` wrote `comment`, owns its item, or is a superuser."""
    if user.id not in (comment.author_id, item_owner_id) and not user.is_superuser:
        raise Forbidden(ErrorCode.COMMENT_DELETE_NOT_ALLOWED)


async def get_live_comment(
    *, session: AsyncSession, comment_id: uuid.UUID, user: User, for_update: bool = False
) -> tuple[Comment, uuid.UUID]:
    """A comment (not a tombstone) on an item `user` may see, and that item's owner id; else 404."""
    statement = (
        select(Comment, col(Item.owner_id))
        .join(Item, col(Item.id) == col(Comment.item_id))
        .where(
            col(Comment.id) == comment_id,
            col(Comment.is_deleted).is_(False),
            visible_items_filter(user),
        )
    )
    if for_update:
        # NO KEY UPDATE: replies (whose foreign key takes KEY SHARE) need not wait for an edit
        statement = statement.with_for_update(of=Comment, key_share=True)
    row = (await session.execute(statement)).first()
    if row is None:
        raise NotFound(ErrorCode.COMMENT_NOT_FOUND)
    return row[0], row[1]


def _chain(comment_id: uuid.UUID) -> CTE:
    """`comment_id` and every comment above it, with `depth`, its distance from `comment_id`."""
    chain = (
        select(col(Comment.id), col(Comment.parent_id), literal_column("0", Integer).label("depth"))
        .where(col(Comment.id) == comment_id)
        .cte("chain", recursive=True)
    )
    return chain.union_all(
        select(col(Comment.id), col(Comment.parent_id), chain.c.depth + 1).join(
            chain, col(Comment.id) == chain.c.parent_id
        )
    )


async def _check_parent(*, session: AsyncSession, item_id: uuid.UUID, parent_id: uuid.UUID) -> None:
    """400 unless `parent_id` is a live comment of the item with room for a reply below it."""
    # FOR SHARE: a concurrent delete of the parent waits for this reply, or this sees it gone
    parent = (
        await session.execute(
            select(col(Comment.item_id), col(Comment.is_deleted))
            .where(col(Comment.id) == parent_id)
            .with_for_update(read=True)
        )
    ).first()
    if parent is None or parent.item_id != item_id:
        raise BadRequest(ErrorCode.COMMENT_PARENT_NOT_IN_ITEM)
    if parent.is_deleted:
        raise BadRequest(ErrorCode.COMMENT_PARENT_DELETED)
    # the parent and its ancestors: the depth the reply would have
    depth = await session.scalar(select(func.count()).select_from(_chain(parent_id)))
    if (depth or 0) > MAX_DEPTH:
        raise BadRequest(ErrorCode.COMMENT_TOO_DEEP)


async def create_comment(
    *,
    session: AsyncSession,
    item_id: uuid.UUID,
    author: User,
    content: str,
    parent_id: uuid.UUID | None = None,
) -> CommentRead:
    """Add a comment on an item, or a reply to a live comment of that item."""
    if parent_id is not None:
        await _check_parent(session=session, item_id=item_id, parent_id=parent_id)
    comment = Comment(item_id=item_id, author_id=author.id, parent_id=parent_id, content=content)
    session.add(comment)
    await session.flush()
    return _comment_to_read(comment, author)


async def edit_comment(
    *, session: AsyncSession, comment: Comment, author: User, content: str
) -> CommentRead:
    """Change a comment's content; answered with its whole reply tree."""
    comment.content = content
    await session.flush()
    answer = _comment_to_read(comment, author)
    _attach([answer], await _descendants(session=session, root_ids=[comment.id]))
    return answer


async def delete_comment(*, session: AsyncSession, comment_id: uuid.UUID) -> None:
    """Remove a comment, or make it a tombstone while it has replies; empty tombstones above go."""
    chain = _chain(comment_id)
    # Lock the path from the root down (one order for every deleter, so no deadlock): two
    # replies of one tombstone deleted at once must not both leave it standing.
    path = (
        await session.execute(
            select(col(Comment.id), col(Comment.is_deleted))
            .join(chain, chain.c.id == col(Comment.id))
            .order_by(chain.c.depth.desc())
            .with_for_update(of=Comment)
        )
    ).all()[::-1]
    if not path or path[0].id != comment_id or path[0].is_deleted:
        raise NotFound(ErrorCode.COMMENT_NOT_FOUND)  # deleted meanwhile
    counts = await session.execute(
        select(col(Comment.parent_id), func.count())
        .where(col(Comment.parent_id).in_([node.id for node in path]))
        .group_by(col(Comment.parent_id))
    )
    replies: dict[uuid.UUID | None, int] = dict(counts.tuples().all())
    if replies.get(comment_id):
        await session.execute(
            update(Comment).where(col(Comment.id) == comment_id).values(**_TOMBSTONE)
        )
    else:
        # the highest tombstone whose only descendants are this chain goes, and the chain with it
        # (ON DELETE CASCADE)
        top = comment_id
        for ancestor in path[1:]:
            if not ancestor.is_deleted or replies.get(ancestor.id) != 1:
                break
            top = ancestor.id
        await session.execute(delete(Comment).where(col(Comment.id) == top))


async def forget_author(*, session: AsyncSession, user_id: uuid.UUID) -> None:
    """Before deleting a user: tombstone their comments others replied under, delete the rest."""
    # Tombstones left with nothing live below go too, in the deleting transaction.
    # lock their comments: a reply to one now waits, then finds it gone or a tombstone
    mine = await session.scalars(
        select(col(Comment.id)).where(col(Comment.author_id) == user_id).with_for_update()
    )
    if not mine.first():
        return
    items = select(col(Comment.item_id)).where(col(Comment.author_id) == user_id)
    # comments that must stay: live ones by others, in those items, and everything above them
    needed = (
        select(col(Comment.id), col(Comment.parent_id))
        .where(
            col(Comment.item_id).in_(items),
            col(Comment.is_deleted).is_(False),
            or_(col(Comment.author_id).is_(None), col(Comment.author_id) != user_id),
        )
        .cte("needed", recursive=True)
    )
    needed = needed.union(
        select(col(Comment.id), col(Comment.parent_id)).join(
            needed, col(Comment.id) == needed.c.parent_id
        )
    )
    await session.execute(
        delete(Comment)
        .where(
            col(Comment.item_id).in_(items),
            or_(col(Comment.author_id) == user_id, col(Comment.is_deleted).is_(True)),
            col(Comment.id).not_in(select(needed.c.id)),
        )
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Comment)
        .where(col(Comment.author_id) == user_id)
        .values(**_TOMBSTONE)
        .execution_options(synchronize_session=False)
    )

"""Queries over items: who sees what, listing and search, writes with tags, bulk creation and
ownership transfer.

Every read goes through `visible_items_filter`: authorization lives in the base query, so no
path can forget it. Relationships are `lazy="raise"`; each query names what it loads.
"""

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, insert, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload
from sqlmodel import col

from core.codes import ErrorCode
from core.db import insert_or_ignore, related, utcnow
from core.errors import BadRequest, Forbidden, NotFound
from core.pagination import PageParams
from features.items.models import (
    Item,
    ItemCreate,
    ItemTag,
    Tag,
    TransferLog,
    fold_tag,
    fold_title,
)
from features.users.models import User

LIKE_ESCAPE = "\\"

# -- visibility --


def visible_items_filter(user: User) -> ColumnElement[bool]:
    """The items `user` may see: their own and public ones; every item for a superuser."""
    if user.is_superuser:
        return true()
    return or_(col(Item.owner_id) == user.id, col(Item.is_public).is_(True))


def can_change(*, item: Item, user: User) -> bool:
    """Whether `user` may change `item` (and read its transfer log): owner or superuser."""
    return user.is_superuser or item.owner_id == user.id


def ensure_can_change(*, item: Item, user: User) -> None:
    """403 unless `user` may change `item`."""
    if not can_change(item=item, user=user):
        raise Forbidden(ErrorCode.ITEM_OWNER_ONLY)


async def get_visible_item(
    *, session: AsyncSession, item_id: uuid.UUID, user: User, for_update: bool = False
) -> Item:
    """The item with its owner and tags, if `user` may see it; else 404 (existence not revealed).

    `for_update` first locks the item row until the transaction ends, then reads it: a writer
    that waited for the lock sees what the previous one committed, tags included.
    """
    visible = (col(Item.id) == item_id, visible_items_filter(user))
    if for_update:
        # A statement that waits for a row lock re-reads only the locked row; rows it joins
        # (the tags) would still be those of before the wait. So: lock, then load afresh.
        locked = await session.scalar(select(col(Item.id)).where(*visible).with_for_update())
        if locked is None:
            raise NotFound(ErrorCode.ITEM_NOT_FOUND)
    # one round trip: the owner and the tags (≤ 20 rows) joined in
    statement = (
        select(Item)
        .where(*visible)
        .options(joinedload(related(Item.owner), innerjoin=True), joinedload(related(Item.tags)))
        .execution_options(populate_existing=for_update)
    )
    item = (await session.scalars(statement)).unique().one_or_none()
    if item is None:
        raise NotFound(ErrorCode.ITEM_NOT_FOUND)
    return item


# -- listing --


def contains_pattern(text: str) -> str:
    """A LIKE pattern matching `text` literally (no wildcards) anywhere in a folded title."""
    escaped = (
        fold_title(text)
        .replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )
    return f"%{escaped}%"


def newest_first(statement: Select[Any]) -> Select[Any]:
    """Newest first, ties broken by id (descending): a stable order to page through."""
    return statement.order_by(col(Item.created_at).desc(), col(Item.id).desc())


async def list_items(
    *,
    session: AsyncSession,
    user: User,
    page: PageParams,
    search: str | None = None,
    owner_only: bool = False,
    tag: str | None = None,
) -> tuple[list[Item], int]:
    """A page of the items `user` may see, newest first, and how many match in all."""
    conditions = [visible_items_filter(user)]
    if owner_only:
        conditions.append(col(Item.owner_id) == user.id)
    if search:
        conditions.append(col(Item.title_search).like(contains_pattern(search), escape=LIKE_ESCAPE))
    if tag is not None:
        tagged = select(col(ItemTag.item_id)).join(Tag).where(col(Tag.name) == fold_tag(tag))
        conditions.append(col(Item.id).in_(tagged))

    total = await session.scalar(select(func.count()).select_from(Item).where(*conditions))
    items = await session.scalars(
        newest_first(select(Item).where(*conditions))
        .options(joinedload(related(Item.owner), innerjoin=True), selectinload(related(Item.tags)))
        .offset(page.skip)
        .limit(page.limit)
    )
    return list(items), total or 0


async def list_visible_items_of(
    *, session: AsyncSession, owner_ids: Sequence[uuid.UUID], user: User
) -> list[Item]:
    """The items of these owners that `user` may see, newest first, with owners and tags."""
    if not owner_ids:
        return []
    items = await session.scalars(
        newest_first(
            select(Item).where(col(Item.owner_id).in_(owner_ids), visible_items_filter(user))
        ).options(joinedload(related(Item.owner), innerjoin=True), selectinload(related(Item.tags)))
    )
    return list(items)


# -- tags --


async def upsert_tags(*, session: AsyncSession, names: Iterable[str]) -> list[Tag]:
    """The tags with these (folded) names, creating missing ones; safe against racing writers.

    One INSERT … ON CONFLICT DO NOTHING for every name, then one SELECT: a concurrent request
    creating the same name makes ours wait or skip, never fail. Names go in sorted, so two
    writers take the unique index's entries in the same order (no deadlock). Tags are never
    deleted, so a tag found here still exists when the links are written.
    """
    names = sorted(set(names))
    if not names:
        return []
    await session.execute(
        insert_or_ignore(session, Tag, index_elements=["name"]).values(
            [{"name": name} for name in names]
        )
    )
    return list(await session.scalars(select(Tag).where(col(Tag.name).in_(names))))


# -- writes --


def _columns(data: dict[str, Any]) -> dict[str, Any]:
    """Item column values from schema fields (tags aside): the search form goes with the title."""
    values = {field: value for field, value in data.items() if field != "tags"}
    if "title" in values:
        values["title_search"] = fold_title(values["title"])
    return values


async def create_item(*, session: AsyncSession, owner: User, data: ItemCreate) -> Item:
    """Create an item owned by `owner`, with its tags."""
    tags = await upsert_tags(session=session, names=data.tags)
    item = Item(**_columns(data.model_dump()), owner=owner, tags=tags)
    session.add(item)
    await session.flush()
    return item


async def update_item(*, session: AsyncSession, item: Item, changes: dict[str, Any]) -> Item:
    """Apply these field changes (every field for a full replace); `updated_at` advances.

    `item` must come with its tags loaded (as `get_visible_item` gives it).
    """
    for field, value in _columns(changes).items():
        setattr(item, field, value)
    if "tags" in changes:
        item.tags = await upsert_tags(session=session, names=changes["tags"])
    # also when only the tags changed, which alone would not UPDATE the item's row
    item.updated_at = utcnow()  # type: ignore[assignment]
    await session.flush()
    return item


async def delete_item(*, session: AsyncSession, item: Item) -> None:
    """Delete an item; its tag links, transfer log and comments go with it (ON DELETE CASCADE)."""
    await session.execute(delete(Item).where(col(Item.id) == item.id))


async def create_items(
    *, session: AsyncSession, owner: User, data: Sequence[ItemCreate]
) -> list[Item]:
    """Create these items in one transaction (all or none), set-based; in the order given."""
    rows = [
        {"id": uuid.uuid4(), "owner_id": owner.id, **_columns(entry.model_dump())} for entry in data
    ]
    # one multi-row INSERT (not executemany): one round trip, one created_at for the batch
    await session.execute(insert(Item).values(rows))

    tag_ids = {
        tag.name: tag.id
        for tag in await upsert_tags(
            session=session, names={name for entry in data for name in entry.tags}
        )
    }
    links = [
        {"item_id": row["id"], "tag_id": tag_ids[name]}
        for row, entry in zip(rows, data, strict=True)
        for name in entry.tags
    ]
    if links:
        await session.execute(insert(ItemTag).values(links))

    ids = [row["id"] for row in rows]
    loaded = await session.scalars(
        select(Item)
        .where(col(Item.id).in_(ids))
        .options(joinedload(related(Item.owner), innerjoin=True), selectinload(related(Item.tags)))
    )
    by_id = {item.id: item for item in loaded}
    return [by_id[item_id] for item_id in ids]


async def transfer_item(*, session: AsyncSession, item: Item, new_owner_id: uuid.UUID) -> Item:
    """Give a (locked) item to another active user and log it, in the same transaction."""
    if new_owner_id == item.owner_id:
        raise BadRequest(ErrorCode.ITEM_ALREADY_OWNED)
    new_owner = await session.get(User, new_owner_id)
    if new_owner is None or not new_owner.is_active:
        raise NotFound(ErrorCode.USER_NOT_FOUND)
    session.add(TransferLog(item_id=item.id, from_user_id=item.owner_id, to_user_id=new_owner.id))
    item.owner = new_owner  # the UPDATE advances updated_at too
    await session.flush()
    return item


async def list_transfers(*, session: AsyncSession, item: Item) -> list[TransferLog]:
    """An item's transfer log, oldest first."""
    entries = await session.scalars(
        select(TransferLog)
        .where(col(TransferLog.item_id) == item.id)
        .order_by(col(TransferLog.transferred_at), col(TransferLog.id))
    )
    return list(entries)

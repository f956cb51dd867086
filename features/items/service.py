"""Queries over items: who sees what, listing and search, writes with tags, bulk creation and
ownership transfer.

Every read goes through the visibility rule (`visible_item_sets`, and `visible_items_filter`
made of it): authorization lives in the base query, so no path can forget it.

Reads that only answer (one item, a list page, a bulk result) select columns with Core and
build `ItemRead`s directly: one SELECT with the owner joined and the tags aggregated, no ORM
objects, identity map or loader options (those were most of a read's CPU time). Writes, which
lock and change rows, use the ORM; relationships are `lazy="raise"`, so each query names what
it loads. Every write keeps the item counts (features/items/counts.py) in step.
"""

import uuid
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import (
    JSON,
    ColumnElement,
    Row,
    Select,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import col

from core.codes import ErrorCode
from core.db import insert_or_ignore, related, utcnow
from core.errors import BadRequest, Forbidden, NotFound
from core.pagination import (
    KeysetOrder,
    KeysetParams,
    decode_cursor,
    encode_cursor,
    literal_count,
    position_of,
)
from features.items import counts
from features.items.models import (
    SORT_COLUMNS,
    Item,
    ItemCreate,
    ItemRead,
    ItemTag,
    Tag,
    TransferLog,
    fold_tag,
    fold_title,
)
from features.users.models import User, UserPublic

LIKE_ESCAPE = "\\"

# -- visibility --


# The bare column as the condition (`is_public`; `is_public = 1` on SQLite), as the partial
# indexes on public and private items are declared: that is what lets both databases use them.
_PUBLIC = cast(ColumnElement[bool], col(Item.is_public))


def visible_item_sets(user: User, *, owner_only: bool = False) -> list[ColumnElement[bool]]:
    """What `user` may see — their own items and public ones; every item for a superuser — as
    disjoint conditions whose union is that rule (only their own with `owner_only`).

    The rule itself, in the form a list can read with one index scan per part (an `OR` across
    two columns defeats every index). `visible_items_filter` is their union;
    `counts.visible_total` counts the same parts.
    """
    if owner_only:
        return [col(Item.owner_id) == user.id]  # one's own items are always visible
    if user.is_superuser:
        return [_PUBLIC, ~_PUBLIC]
    return [col(Item.owner_id) == user.id, and_(_PUBLIC, col(Item.owner_id) != user.id)]


def visible_items_filter(user: User) -> ColumnElement[bool]:
    """The items `user` may see, as one condition (for lookups and filtered counts)."""
    if user.is_superuser:
        return true()
    return or_(*visible_item_sets(user))


def can_change(*, owner_id: uuid.UUID, user: User) -> bool:
    """Whether `user` may change an item of `owner_id` (and read its transfer log): owner or
    superuser."""
    return user.is_superuser or owner_id == user.id


def ensure_can_change(*, owner_id: uuid.UUID, user: User) -> None:
    """403 unless `user` may change an item of `owner_id`."""
    if not can_change(owner_id=owner_id, user=user):
        raise Forbidden(ErrorCode.ITEM_OWNER_ONLY)


# -- lean reads --


class tag_list(FunctionElement[list[str]]):
    """The names aggregated into one JSON array (NULL over no rows on PostgreSQL)."""

    type = JSON()
    inherit_cache = True


@compiles(tag_list, "postgresql")
def _tag_list_postgresql(element: tag_list, compiler: Any, **kw: Any) -> str:
    return f"json_agg({compiler.process(element.clauses, **kw)})"


@compiles(tag_list, "sqlite")
def _tag_list_sqlite(element: tag_list, compiler: Any, **kw: Any) -> str:
    return f"json_group_array({compiler.process(element.clauses, **kw)})"


# the columns an ItemRead is made of (title_search stays in the database)
_ITEM_COLUMNS = ("id", "title", "description", "is_public", "owner_id", "created_at", "updated_at")


def _tags_of(item_id: Any) -> Any:
    """The names of an item's tags as one JSON array: a correlated subquery (for one item)."""
    return (
        select(tag_list(col(Tag.name)))
        .select_from(ItemTag)
        .join(Tag, col(Tag.id) == col(ItemTag.tag_id))
        .where(col(ItemTag.item_id) == item_id)
        .scalar_subquery()
    )


def _reading(source: Any) -> Select[Any]:
    """SELECT an ItemRead's columns (tags aside) from `source` (the items table's or a
    subquery's `.c`), the owner joined."""
    return select(
        *(source[name] for name in _ITEM_COLUMNS), col(User.username), col(User.full_name)
    ).join(User, col(User.id) == source.owner_id)


async def _tags_by_item(
    *, session: AsyncSession, item_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    """The tag names of these items, each list sorted: one statement for a whole page (a
    correlated subquery per row cost the database more than this second round trip)."""
    tags: dict[uuid.UUID, list[str]] = {item_id: [] for item_id in item_ids}
    if item_ids:
        rows = await session.execute(
            select(col(ItemTag.item_id), col(Tag.name))
            .join(Tag, col(Tag.id) == col(ItemTag.tag_id))
            .where(col(ItemTag.item_id).in_(item_ids))
            .order_by(col(Tag.name))
        )
        for item_id, name in rows.tuples():
            tags[item_id].append(name)
    return tags


def _to_read(row: Row[Any], tags: list[str]) -> ItemRead:
    # Rows come typed from the database: built without validating again (as comments do).
    owner = UserPublic.model_construct(
        id=row.owner_id, username=row.username, full_name=row.full_name
    )
    return ItemRead.model_construct(
        id=row.id,
        title=row.title,
        description=row.description,
        is_public=row.is_public,
        tags=tags,
        owner=owner,
        owner_id=row.owner_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def read_of(item: Item) -> ItemRead:
    """An ORM item (owner and tags loaded) as it is answered."""
    return ItemRead.model_validate(item, from_attributes=True)


async def read_item(*, session: AsyncSession, item_id: uuid.UUID, user: User) -> ItemRead:
    """The item as answered, if `user` may see it; else 404 (existence not revealed)."""
    items = Item.__table__.c  # type: ignore[attr-defined]  # SQLModel declares no __table__
    row = (
        await session.execute(
            _reading(items)
            .add_columns(_tags_of(items.id).label("tags"))
            .where(col(Item.id) == item_id, visible_items_filter(user))
        )
    ).first()
    if row is None:
        raise NotFound(ErrorCode.ITEM_NOT_FOUND)
    return _to_read(row, sorted(row.tags or []))


async def lock_visible_item(*, session: AsyncSession, item_id: uuid.UUID, user: User) -> Item:
    """The item, locked until the transaction ends, with its owner and tags, if `user` may see
    it; else 404 (existence not revealed).

    It first locks the item row, then reads it: a writer that waited for the lock sees what
    the previous one committed, tags included.
    """
    visible = (col(Item.id) == item_id, visible_items_filter(user))
    # A statement that waits for a row lock re-reads only the locked row; rows it joins (the
    # tags) would still be those of before the wait. So: lock, then load afresh.
    locked = await session.scalar(select(col(Item.id)).where(*visible).with_for_update())
    if locked is None:
        raise NotFound(ErrorCode.ITEM_NOT_FOUND)
    # one round trip: the owner and the tags (≤ 20 rows) joined in
    statement = (
        select(Item)
        .where(col(Item.id) == item_id)
        .options(joinedload(related(Item.owner), innerjoin=True), joinedload(related(Item.tags)))
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(statement)).unique().one()


# -- listing --


class ItemSort(StrEnum):
    """List orders; ties are broken by id in the same direction."""

    NEWEST = "-created_at"
    OLDEST = "created_at"
    RECENTLY_UPDATED = "-updated_at"
    LEAST_RECENTLY_UPDATED = "updated_at"
    TITLE = "title"
    TITLE_DESCENDING = "-title"

    def order(self) -> KeysetOrder:
        column = SORT_COLUMNS[self.value.removeprefix("-")]
        return KeysetOrder(
            column=col(column), id_column=col(Item.id), descending=self.value.startswith("-")
        )


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
    page: KeysetParams,
    sort: ItemSort = ItemSort.NEWEST,
    search: str | None = None,
    owner_only: bool = False,
    tag: str | None = None,
) -> tuple[list[ItemRead], int | None, str | None]:
    """A page of the items `user` may see, in `sort` order; how many match in all (None when
    not asked for); the cursor of the next page (None on the last one)."""
    filters: list[ColumnElement[bool]] = []
    if search:
        filters.append(col(Item.title_search).like(contains_pattern(search), escape=LIKE_ESCAPE))
    if tag is not None:
        # the tag's id first: each candidate item is then one probe of item_tags' primary key
        tag_id = select(col(Tag.id)).where(col(Tag.name) == fold_tag(tag)).scalar_subquery()
        tagged = select(col(ItemTag.item_id)).where(col(ItemTag.tag_id) == tag_id)
        filters.append(col(Item.id).in_(tagged))
    # a cursor is good for this list only: these filters, this order, this caller
    scope = {
        "sort": sort.value,
        "search": fold_title(search) if search else None,
        "tag": fold_tag(tag) if tag is not None else None,
        "owner_only": owner_only,
        "user": str(user.id),
    }
    dialect = session.get_bind().dialect.name
    order = sort.order()
    after = []
    if page.cursor is not None:
        after.append(order.after(decode_cursor(page.cursor, scope=scope), dialect))

    rows = _page_rows(
        parts=visible_item_sets(user, owner_only=owner_only),
        conditions=[*filters, *after],
        order=order,
        skip=page.skip,
        wanted=page.limit + 1,  # one row more than the page tells if another follows
    )
    found = (
        await session.execute(
            _reading(rows.c)
            .add_columns(order.key_column(rows.c, dialect).label("sort_key"))
            .order_by(*order.order_by(rows.c))
        )
    ).all()

    next_cursor = None
    if len(found) > page.limit:
        found = found[: page.limit]
        last = found[-1]
        next_cursor = encode_cursor(position_of(last.sort_key, last.id), scope=scope)

    tags = await _tags_by_item(session=session, item_ids=[row.id for row in found])
    total = None
    if page.include_total:
        total = await _count(session=session, user=user, owner_only=owner_only, filters=filters)
    return [_to_read(row, tags[row.id]) for row in found], total, next_cursor


def _page_rows(
    *,
    parts: Sequence[ColumnElement[bool]],
    conditions: Sequence[ColumnElement[bool]],
    order: KeysetOrder,
    skip: int,
    wanted: int,
) -> Any:
    """The page's item rows as a subquery: one index scan per part of what the caller sees,
    each in `order` and cut at what the page can need, merged and cut again. So a page reads
    about skip + limit rows per part, whatever the table's size."""
    scans = [
        select(*(col(getattr(Item, name)) for name in _ITEM_COLUMNS))
        .where(part, *conditions)
        .order_by(*order.order_by())
        for part in parts
    ]
    if len(scans) == 1:
        return scans[0].offset(literal_count(skip)).limit(literal_count(wanted)).subquery("page")
    cut = literal_count(skip + wanted)
    merged = union_all(*(select(scan.limit(cut).subquery()) for scan in scans)).subquery("visible")
    return (
        select(merged)
        .order_by(*order.order_by(merged.c))
        .offset(literal_count(skip))
        .limit(literal_count(wanted))
        .subquery("page")
    )


async def _count(
    *,
    session: AsyncSession,
    user: User,
    owner_only: bool,
    filters: Sequence[ColumnElement[bool]],
) -> int:
    """How many items the list holds in all: read off the maintained counts when unfiltered;
    a search or a tag counts its matches (which its index finds)."""
    if not filters:
        return await counts.visible_total(session=session, user=user, owner_only=owner_only)
    conditions = [visible_items_filter(user), *filters]
    if owner_only:
        conditions.append(col(Item.owner_id) == user.id)
    total = await session.scalar(select(func.count()).select_from(Item).where(*conditions))
    return total or 0


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


async def create_item(*, session: AsyncSession, owner: User, data: ItemCreate) -> ItemRead:
    """Create an item owned by `owner`, with its tags."""
    tags = await upsert_tags(session=session, names=data.tags)
    item = Item(**_columns(data.model_dump()), owner=owner, tags=tags)
    session.add(item)
    await session.flush()
    await counts.count_items(
        session=session, owner_id=owner.id, total=1, public=int(item.is_public)
    )
    return read_of(item)


async def update_item(*, session: AsyncSession, item: Item, changes: dict[str, Any]) -> ItemRead:
    """Apply these field changes (every field for a full replace); `updated_at` advances.

    `item` must come locked, with its tags loaded (as `get_visible_item` gives it).
    """
    was_public = item.is_public
    for field, value in _columns(changes).items():
        setattr(item, field, value)
    if "tags" in changes:
        item.tags = await upsert_tags(session=session, names=changes["tags"])
    # also when only the tags changed, which alone would not UPDATE the item's row
    item.updated_at = utcnow()  # type: ignore[assignment]
    await session.flush()
    if item.is_public != was_public:
        await counts.count_items(
            session=session, owner_id=item.owner_id, total=0, public=1 if item.is_public else -1
        )
    return read_of(item)


async def delete_item(*, session: AsyncSession, item: Item) -> None:
    """Delete a (locked) item; its tag links, transfer log and comments go with it (ON DELETE
    CASCADE)."""
    await session.execute(delete(Item).where(col(Item.id) == item.id))
    await counts.count_items(
        session=session, owner_id=item.owner_id, total=-1, public=-int(item.is_public)
    )


async def create_items(
    *, session: AsyncSession, owner: User, data: Sequence[ItemCreate]
) -> list[ItemRead]:
    """Create these items in one transaction (all or none), set-based; in the order given."""
    rows = [
        {"id": uuid.uuid4(), "owner_id": owner.id, **_columns(entry.model_dump())} for entry in data
    ]
    # one multi-row INSERT (not executemany): one round trip, one created_at for the batch;
    # the database's timestamps come back with it
    inserted = await session.execute(
        insert(Item)
        .values(rows)
        .returning(col(Item.id), col(Item.created_at), col(Item.updated_at))
    )
    stamps = {row.id: row for row in inserted}

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
    await counts.count_items(
        session=session,
        owner_id=owner.id,
        total=len(rows),
        public=sum(entry.is_public for entry in data),
    )

    # answered from what was written: the owner is the caller, the tags are those sent
    owner_read = UserPublic.model_validate(owner, from_attributes=True)
    return [
        ItemRead.model_construct(
            id=row["id"],
            title=entry.title,
            description=entry.description,
            is_public=entry.is_public,
            tags=entry.tags,  # folded, de-duplicated and sorted by the schema
            owner=owner_read,
            owner_id=owner.id,
            created_at=stamps[row["id"]].created_at,
            updated_at=stamps[row["id"]].updated_at,
        )
        for row, entry in zip(rows, data, strict=True)
    ]


async def transfer_item(*, session: AsyncSession, item: Item, new_owner_id: uuid.UUID) -> ItemRead:
    """Give a (locked) item to another active user and log it, in the same transaction."""
    if new_owner_id == item.owner_id:
        raise BadRequest(ErrorCode.ITEM_ALREADY_OWNED)
    new_owner = await session.get(User, new_owner_id)
    if new_owner is None or not new_owner.is_active:
        raise NotFound(ErrorCode.USER_NOT_FOUND)
    previous_owner_id = item.owner_id
    session.add(TransferLog(item_id=item.id, from_user_id=item.owner_id, to_user_id=new_owner.id))
    item.owner = new_owner  # the UPDATE advances updated_at too
    await session.flush()
    await counts.count_transfer(
        session=session, from_id=previous_owner_id, to_id=new_owner.id, public=item.is_public
    )
    return read_of(item)


async def list_transfers(*, session: AsyncSession, item_id: uuid.UUID) -> list[TransferLog]:
    """An item's transfer log, oldest first."""
    entries = await session.scalars(
        select(TransferLog)
        .where(col(TransferLog.item_id) == item_id)
        .order_by(col(TransferLog.transferred_at), col(TransferLog.id))
    )
    return list(entries)

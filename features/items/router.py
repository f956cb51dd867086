"""Routes over items: CRUD, search, bulk creation, ownership transfer and its log."""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Response, status

from core.codes import ErrorCode
from core.db import SessionDep
from core.errors import BadRequest, NotFound, error_responses
from core.idempotency import REPLAYED_HEADER_DOC
from core.pagination import KeysetPage, KeysetParams, keyset_params
from core.validation import CleanStr, StrippedStr
from features.auth.dependencies import CurrentUser
from features.items import service
from features.items.dependencies import Idempotent, ItemToChange, OwnedItem, VisibleItem
from features.items.etag import etag_of, if_none_match_hits
from features.items.models import (
    TAG_MAX,
    BulkItems,
    BulkResult,
    ItemCreate,
    ItemRead,
    ItemUpdate,
    TransferLog,
    TransferRead,
    TransferRequest,
)
from features.items.service import ItemSort

router = APIRouter(prefix="/items", tags=["items"])

BAD_CURSOR = BadRequest(ErrorCode.INVALID_CURSOR)

ListPage = Annotated[KeysetParams, Depends(keyset_params(default_limit=10))]


# OpenAPI: the header answers that hold one item carry (`responses=` headers)
ETAG_HEADER_DOC: dict[str, Any] = {
    "ETag": {"description": "The item's strong ETag", "schema": {"type": "string"}}
}


def _tagged(response: Response, item: ItemRead) -> ItemRead:
    """`item`, its ETag set on the response."""
    response.headers["ETag"] = etag_of(item)
    return item


# -- routes --


@router.post(
    "",
    response_model=ItemRead,
    status_code=status.HTTP_201_CREATED,
    operation_id="items_create",
    summary="Create an item",
    responses={
        201: {"headers": {**ETAG_HEADER_DOC, **REPLAYED_HEADER_DOC}},
    },
)
async def create_item(
    body: ItemCreate,
    idempotency: Idempotent,
    session: SessionDep,
    user: CurrentUser,
    response: Response,
) -> ItemRead:
    """Create an item owned by the caller."""
    item = await service.create_item(session=session, owner=user, data=body)
    return idempotency.keep(_tagged(response, item))


@router.get(
    "",
    response_model=KeysetPage[ItemRead],
    operation_id="items_list",
    summary="List the items the caller may see",
    responses=error_responses(BAD_CURSOR),
)
async def list_items(
    session: SessionDep,
    user: CurrentUser,
    page: ListPage,
    sort: Annotated[
        ItemSort, Query(description="Order; ties are broken by id in the same direction")
    ] = ItemSort.NEWEST,
    search: Annotated[
        CleanStr | None,
        Query(max_length=300, description="Case-insensitive literal substring of the title"),
    ] = None,
    owner_only: Annotated[bool, Query(description="Only the caller's own items")] = False,
    tag: Annotated[
        StrippedStr | None,
        Query(min_length=1, max_length=TAG_MAX, description="Only items with this tag (any case)"),
    ] = None,
) -> KeysetPage[ItemRead]:
    """The items the caller may see, newest first unless `sort` says otherwise."""
    items, total, next_cursor = await service.list_items(
        session=session,
        user=user,
        page=page,
        sort=sort,
        search=search,
        owner_only=owner_only,
        tag=tag,
    )
    return KeysetPage[ItemRead].of(items, total, page, next_cursor)


@router.post(
    "/bulk",
    response_model=BulkResult,
    status_code=status.HTTP_201_CREATED,
    operation_id="items_bulk_create",
    summary="Create up to 500 items at once",
    responses={201: {"headers": REPLAYED_HEADER_DOC}},
)
async def create_items(
    body: Annotated[BulkItems, Body()],
    idempotency: Idempotent,
    session: SessionDep,
    user: CurrentUser,
) -> BulkResult:
    """Create 1–500 items owned by the caller: all of them or, on any error, none."""
    items = await service.create_items(session=session, owner=user, data=body)
    return idempotency.keep(BulkResult(created=len(items), items=items))


@router.get(
    "/{item_id}",
    response_model=ItemRead,
    operation_id="items_read",
    summary="Read one item",
    responses={
        200: {"headers": ETAG_HEADER_DOC},
        304: {"description": "Not modified: If-None-Match lists the current ETag (or `*`)"},
    },
)
async def read_item(
    item: VisibleItem,
    response: Response,
    if_none_match: Annotated[
        str | None,
        Header(
            alias="If-None-Match",
            description="304 (no body) if the current ETag is listed (or `*`)",
        ),
    ] = None,
) -> ItemRead | Response:
    """One item the caller may see."""
    etag = etag_of(item)
    if if_none_match is not None and if_none_match_hits(if_none_match, etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
    response.headers["ETag"] = etag
    return item


@router.patch(
    "/{item_id}",
    response_model=ItemRead,
    operation_id="items_update",
    summary="Change some fields of an item",
    responses={200: {"headers": ETAG_HEADER_DOC}},
)
async def update_item(
    body: ItemUpdate, item: ItemToChange, session: SessionDep, response: Response
) -> ItemRead:
    """Change the fields sent, and only those."""
    changed = await service.update_item(session=session, item=item, changes=body.changes())
    return _tagged(response, changed)


@router.put(
    "/{item_id}",
    response_model=ItemRead,
    operation_id="items_replace",
    summary="Replace an item",
    responses={200: {"headers": ETAG_HEADER_DOC}},
)
async def replace_item(
    body: ItemCreate, item: ItemToChange, session: SessionDep, response: Response
) -> ItemRead:
    """Replace every field; those not sent return to their defaults."""
    replaced = await service.update_item(session=session, item=item, changes=body.model_dump())
    return _tagged(response, replaced)


@router.delete(
    "/{item_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="items_delete",
    summary="Delete an item",
)
async def delete_item(item: ItemToChange, session: SessionDep) -> None:
    """Delete an item with its comments."""
    await service.delete_item(session=session, item=item)


@router.post(
    "/{item_id}/transfer",
    response_model=ItemRead,
    operation_id="items_transfer",
    summary="Give an item to another user",
    responses={
        **error_responses(
            BadRequest(ErrorCode.ITEM_ALREADY_OWNED),
            NotFound(ErrorCode.USER_NOT_FOUND),
        ),
        200: {"headers": {**ETAG_HEADER_DOC, **REPLAYED_HEADER_DOC}},
    },
)
async def transfer_item(
    body: TransferRequest,
    idempotency: Idempotent,
    item: ItemToChange,
    session: SessionDep,
    response: Response,
) -> ItemRead:
    """Give the item to another active user (owner or superuser), logging the transfer."""
    moved = await service.transfer_item(session=session, item=item, new_owner_id=body.new_owner_id)
    return idempotency.keep(_tagged(response, moved))


@router.get(
    "/{item_id}/transfers",
    response_model=list[TransferRead],
    operation_id="items_transfers_list",
    summary="An item's transfer log",
)
async def list_transfers(item: OwnedItem, session: SessionDep) -> list[TransferLog]:
    """The item's transfer log, oldest first (its owner or a superuser)."""
    return await service.list_transfers(session=session, item_id=item.id)

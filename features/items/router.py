"""Routes over items: CRUD, search, bulk creation, ownership transfer and its log."""

from typing import Annotated

from fastapi import APIRouter, Body, Query, status

from core.codes import ErrorCode
from core.db import SessionDep
from core.errors import BadRequest, NotFound, error_responses
from core.pagination import Page, Pagination
from core.validation import CleanStr, StrippedStr
from features.auth.dependencies import CurrentUser
from features.items import service
from features.items.dependencies import ItemToChange, OwnedItem, VisibleItem
from features.items.models import (
    TAG_MAX,
    BulkItems,
    BulkResult,
    Item,
    ItemCreate,
    ItemRead,
    ItemUpdate,
    TransferLog,
    TransferRead,
    TransferRequest,
)

router = APIRouter(prefix="/items", tags=["items"])

# -- routes --


@router.post(
    "",
    operation_id="items_create",
    summary="Create an item",
    response_model=ItemRead,
    status_code=status.HTTP_201_CREATED,
)
async def create_item(body: ItemCreate, session: SessionDep, user: CurrentUser) -> Item:
    """Create an item owned by the caller."""
    return await service.create_item(session=session, owner=user, data=body)


@router.get("", operation_id="items_list", summary="List items", response_model=Page[ItemRead])
async def list_items(
    session: SessionDep,
    user: CurrentUser,
    page: Pagination,
    search: Annotated[
        CleanStr | None,
        Query(max_length=300, description="Case-insensitive literal substring of the title"),
    ] = None,
    owner_only: Annotated[bool, Query(description="Only the caller's own items")] = False,
    tag: Annotated[
        StrippedStr | None,
        Query(min_length=1, max_length=TAG_MAX, description="Only items with this tag (any case)"),
    ] = None,
) -> Page[ItemRead]:
    """The items the caller may see, newest first."""
    items, total = await service.list_items(
        session=session, user=user, page=page, search=search, owner_only=owner_only, tag=tag
    )
    return Page[ItemRead].of(items, total, page)


@router.post(
    "/bulk",
    operation_id="items_bulk_create",
    summary="Create items in bulk",
    response_model=BulkResult,
    status_code=status.HTTP_201_CREATED,
)
async def create_items(
    body: Annotated[BulkItems, Body()], session: SessionDep, user: CurrentUser
) -> BulkResult:
    """Create 1–500 items owned by the caller: all of them or, on any error, none."""
    items = await service.create_items(session=session, owner=user, data=body)
    return BulkResult.model_validate({"created": len(items), "items": items}, from_attributes=True)


@router.get(
    "/{item_id}", operation_id="items_read", summary="Read an item", response_model=ItemRead
)
async def read_item(item: VisibleItem) -> Item:
    """One item the caller may see."""
    return item


@router.patch(
    "/{item_id}", operation_id="items_update", summary="Change an item", response_model=ItemRead
)
async def update_item(body: ItemUpdate, item: ItemToChange, session: SessionDep) -> Item:
    """Change the fields sent, and only those."""
    return await service.update_item(session=session, item=item, changes=body.changes())


@router.put(
    "/{item_id}", operation_id="items_replace", summary="Replace an item", response_model=ItemRead
)
async def replace_item(body: ItemCreate, item: ItemToChange, session: SessionDep) -> Item:
    """Replace every field; those not sent return to their defaults."""
    return await service.update_item(session=session, item=item, changes=body.model_dump())


@router.delete(
    "/{item_id}",
    operation_id="items_delete",
    summary="Delete an item",
    status_code=status.HTTP_204_NO_CONTENT,
)
async def delete_item(item: ItemToChange, session: SessionDep) -> None:
    """Delete an item with its comments."""
    await service.delete_item(session=session, item=item)


@router.post(
    "/{item_id}/transfer",
    operation_id="items_transfer",
    summary="Transfer an item",
    response_model=ItemRead,
    responses=error_responses(
        BadRequest(ErrorCode.ITEM_ALREADY_OWNED), NotFound(ErrorCode.USER_NOT_FOUND)
    ),
)
async def transfer_item(body: TransferRequest, item: ItemToChange, session: SessionDep) -> Item:
    """Give the item to another active user (owner or superuser), logging the transfer."""
    return await service.transfer_item(session=session, item=item, new_owner_id=body.new_owner_id)


@router.get(
    "/{item_id}/transfers",
    operation_id="items_transfers_list",
    summary="List an item's transfers",
    response_model=list[TransferRead],
)
async def list_transfers(item: OwnedItem, session: SessionDep) -> list[TransferLog]:
    """The item's transfer log, oldest first (its owner or a superuser)."""
    return await service.list_transfers(session=session, item=item)

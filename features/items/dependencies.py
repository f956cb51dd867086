"""Checked items for the routes of this feature and of others (comments chain on VisibleItem),
and the Idempotency-Key dependency of the routes that create.

Each item dependency reads the `item_id` path parameter; who may do what is decided in the
service.
"""

import uuid
from typing import Annotated

from fastapi import Depends, Header

from core.codes import ErrorCode
from core.db import SessionDep
from core.errors import Forbidden, NotFound, PreconditionFailed, raises
from core.idempotency import Idempotency, idempotency_for
from features.auth.dependencies import CurrentUser, current_user
from features.items import service
from features.items.etag import etag_of, if_match_holds
from features.items.models import Item, ItemRead

HIDDEN = NotFound(ErrorCode.ITEM_NOT_FOUND)
NOT_OWNER = Forbidden(ErrorCode.ITEM_OWNER_ONLY)

STALE = PreconditionFailed(ErrorCode.PRECONDITION_FAILED)


@raises(HIDDEN)
async def visible_item(item_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> ItemRead:
    """The item named in the path, as answered, if the caller may see it; else 404."""
    return await service.read_item(session=session, item_id=item_id, user=user)


VisibleItem = Annotated[ItemRead, Depends(visible_item)]


@raises(NOT_OWNER)
async def owned_item(item: VisibleItem, user: CurrentUser) -> ItemRead:
    """The item named in the path, if the caller owns it or is a superuser; else 403 (or 404)."""
    service.ensure_can_change(owner_id=item.owner_id, user=user)
    return item


OwnedItem = Annotated[ItemRead, Depends(owned_item)]


@raises(HIDDEN, NOT_OWNER, STALE)
async def item_to_change(
    item_id: uuid.UUID,
    session: SessionDep,
    user: CurrentUser,
    if_match: Annotated[
        str | None,
        Header(
            alias="If-Match",
            description="Change the item only if its current ETag is listed (or `*`); "
            "else 412 with the current ETag",
        ),
    ] = None,
) -> Item:
    """Like `OwnedItem`, but the row is locked until the change commits: concurrent writes (and
    a transfer) queue up instead of overwriting each other or acting on a stale owner.

    `If-Match` is checked under that lock, after authorization (404/403 first): of two writers
    holding the same ETag, the second finds it changed and gets 412, with nothing written.
    """
    item = await service.lock_visible_item(session=session, item_id=item_id, user=user)
    service.ensure_can_change(owner_id=item.owner_id, user=user)
    if if_match is not None:
        current = etag_of(service.read_of(item))
        if not if_match_holds(if_match, current):
            raise PreconditionFailed(ErrorCode.PRECONDITION_FAILED, headers={"ETag": current})
    return item


ItemToChange = Annotated[Item, Depends(item_to_change)]

# The creates' Idempotency-Key (core/idempotency.py), for the caller; declared before any
# dependency that looks at the target, so that a replay answers first. scope="function": it
# keeps the answer before the session commits.
Idempotent = Annotated[Idempotency, Depends(idempotency_for(current_user), scope="function")]

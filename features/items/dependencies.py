"""Checked items for the routes of this feature and of others (comments chain on VisibleItem).

Each dependency reads the `item_id` path parameter; who may do what is decided in the service.
"""

import uuid
from typing import Annotated

from fastapi import Depends

from core.codes import ErrorCode
from core.db import SessionDep
from core.errors import Forbidden, NotFound, raises
from features.auth.dependencies import CurrentUser
from features.items import service
from features.items.models import Item

HIDDEN = NotFound(ErrorCode.ITEM_NOT_FOUND)
NOT_OWNER = Forbidden(ErrorCode.ITEM_OWNER_ONLY)


@raises(HIDDEN)
async def visible_item(item_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> Item:
    """The item named in the path, with owner and tags, if the caller may see it; else 404."""
    return await service.get_visible_item(session=session, item_id=item_id, user=user)


VisibleItem = Annotated[Item, Depends(visible_item)]


@raises(NOT_OWNER)
async def owned_item(item: VisibleItem, user: CurrentUser) -> Item:
    """The item named in the path, if the caller owns it or is a superuser; else 403 (or 404)."""
    service.ensure_can_change(item=item, user=user)
    return item


OwnedItem = Annotated[Item, Depends(owned_item)]


@raises(HIDDEN, NOT_OWNER)
async def item_to_change(item_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> Item:
    """Like `OwnedItem`, but the row is locked until the change commits: concurrent writes (and
    a transfer) queue up instead of overwriting each other or acting on a stale owner."""
    item = await service.get_visible_item(
        session=session, item_id=item_id, user=user, for_update=True
    )
    service.ensure_can_change(item=item, user=user)
    return item


ItemToChange = Annotated[Item, Depends(item_to_change)]

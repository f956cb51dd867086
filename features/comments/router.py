"""Routes over comments: threads on items, and editing or deleting one's words."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from core.codes import ErrorCode
from core.db import SessionDep
from core.errors import BadRequest, Forbidden, NotFound, error_responses, raises
from core.idempotency import REPLAYED_HEADER_DOC
from core.pagination import KeysetPage, KeysetParams, keyset_params
from features.auth.dependencies import CurrentUser
from features.comments import service
from features.comments.models import Comment, CommentCreate, CommentRead, CommentUpdate
from features.items.dependencies import Idempotent, VisibleItem

router = APIRouter(tags=["comments"])

ThreadPage = Annotated[KeysetParams, Depends(keyset_params(default_limit=20))]

HIDDEN_COMMENT = NotFound(ErrorCode.COMMENT_NOT_FOUND)


@raises(HIDDEN_COMMENT, Forbidden(ErrorCode.COMMENT_AUTHOR_ONLY))
async def authored_comment(
    comment_id: uuid.UUID, session: SessionDep, user: CurrentUser
) -> Comment:
    """The caller's own comment, locked for the edit: 404 if not visible, else 403 if not theirs."""
    comment, _owner_id = await service.get_live_comment(
        session=session, comment_id=comment_id, user=user, for_update=True
    )
    service.ensure_can_edit(comment=comment, user=user)
    return comment


@raises(HIDDEN_COMMENT, Forbidden(ErrorCode.COMMENT_DELETE_NOT_ALLOWED))
async def removable_comment(
    comment_id: uuid.UUID, session: SessionDep, user: CurrentUser
) -> Comment:
    """A comment the caller may delete (author, item owner, superuser): 404 if unseen, else 403."""
    comment, owner_id = await service.get_live_comment(
        session=session, comment_id=comment_id, user=user
    )
    service.ensure_can_delete(comment=comment, item_owner_id=owner_id, user=user)
    return comment


AuthoredComment = Annotated[Comment, Depends(authored_comment)]
RemovableComment = Annotated[Comment, Depends(removable_comment)]


@router.post(
    "/items/{item_id}/comments",
    status_code=status.HTTP_201_CREATED,
    response_model=CommentRead,
    operation_id="comments_create",
    summary="Comment on an item, or reply to a comment",
    responses={
        **error_responses(
            BadRequest(ErrorCode.COMMENT_PARENT_NOT_IN_ITEM),
            BadRequest(ErrorCode.COMMENT_PARENT_DELETED),
            BadRequest(ErrorCode.COMMENT_TOO_DEEP),
        ),
        201: {"headers": REPLAYED_HEADER_DOC},
    },
)
async def create_comment(
    idempotency: Idempotent,
    item: VisibleItem,
    body: CommentCreate,
    user: CurrentUser,
    session: SessionDep,
) -> CommentRead:
    """Comment on an item the caller may see, or reply to a comment of that item."""
    created = await service.create_comment(
        session=session,
        item_id=item.id,
        author=user,
        content=body.content,
        parent_id=body.parent_id,
    )
    return idempotency.keep(created)


@router.get(
    "/items/{item_id}/comments",
    response_model=KeysetPage[CommentRead],
    operation_id="comments_list",
    summary="A page of an item's comment thread",
    responses=error_responses(BadRequest(ErrorCode.INVALID_CURSOR)),
)
async def list_comments(
    item: VisibleItem, session: SessionDep, page: ThreadPage
) -> KeysetPage[CommentRead]:
    """A page of an item's top-level comments, oldest first, each with all its replies nested."""
    comments, total, next_cursor = await service.list_thread(
        session=session, item_id=item.id, page=page
    )
    return KeysetPage[CommentRead].of(comments, total, page, next_cursor)


@router.patch(
    "/comments/{comment_id}",
    operation_id="comments_update",
    summary="Edit a comment",
    response_model=CommentRead,
)
async def edit_comment(
    comment: AuthoredComment, body: CommentUpdate, user: CurrentUser, session: SessionDep
) -> CommentRead:
    """Change one's own comment (author only); answered with its replies."""
    return await service.edit_comment(
        session=session, comment=comment, author=user, content=body.content
    )


@router.delete(
    "/comments/{comment_id}",
    operation_id="comments_delete",
    summary="Delete a comment",
    status_code=status.HTTP_204_NO_CONTENT,
)
async def delete_comment(comment: RemovableComment, session: SessionDep) -> None:
    """Delete a comment (author, item owner or superuser); one with replies stays as a tombstone."""
    await service.delete_comment(session=session, comment_id=comment.id)

"""Every `detail` code the API answers with, in one place.

A code is what a client matches on, so it never changes once published. The auth codes are
those fastapi-users made public (clients of the library know them); our own follow their style.
A few older answers are sentences rather than codes ("Item not found"): they are kept as they
were published, and named here like any other.
"""

from enum import StrEnum


class ErrorCode(StrEnum):
    # -- any route --
    UNAUTHORIZED = "Unauthorized"
    FORBIDDEN = "Forbidden"
    CONFLICT = "The request conflicts with existing data"
    SERVICE_UNAVAILABLE = "The service could not complete the request"
    INTERNAL_ERROR = "Internal server error"
    BODY_UNPARSEABLE = "There was an error parsing the body"
    REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
    REQUEST_HEADERS_TOO_LARGE = "REQUEST_HEADERS_TOO_LARGE"
    # conditional requests: no ETag listed in If-Match is the current one
    PRECONDITION_FAILED = "PRECONDITION_FAILED"
    # Idempotency-Key (see core/idempotency.py)
    IDEMPOTENCY_KEY_INVALID = "IDEMPOTENCY_KEY_INVALID"
    IDEMPOTENCY_KEY_IN_PROGRESS = "IDEMPOTENCY_KEY_IN_PROGRESS"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    # keyset pagination: a cursor tampered with, or made for other filters or another sort
    INVALID_CURSOR = "INVALID_CURSOR"

    # -- auth --
    LOGIN_BAD_CREDENTIALS = "LOGIN_BAD_CREDENTIALS"
    LOGIN_TOO_MANY_ATTEMPTS = "LOGIN_TOO_MANY_ATTEMPTS"
    REGISTER_USER_ALREADY_EXISTS = "REGISTER_USER_ALREADY_EXISTS"
    REGISTER_INVALID_PASSWORD = "REGISTER_INVALID_PASSWORD"
    RESET_PASSWORD_BAD_TOKEN = "RESET_PASSWORD_BAD_TOKEN"
    RESET_PASSWORD_INVALID_PASSWORD = "RESET_PASSWORD_INVALID_PASSWORD"
    VERIFY_USER_BAD_TOKEN = "VERIFY_USER_BAD_TOKEN"
    VERIFY_USER_ALREADY_VERIFIED = "VERIFY_USER_ALREADY_VERIFIED"

    # -- users --
    USER_NOT_FOUND = "User not found"
    UPDATE_USER_EMAIL_ALREADY_EXISTS = "UPDATE_USER_EMAIL_ALREADY_EXISTS"
    UPDATE_USER_USERNAME_ALREADY_EXISTS = "UPDATE_USER_USERNAME_ALREADY_EXISTS"
    UPDATE_USER_INVALID_PASSWORD = "UPDATE_USER_INVALID_PASSWORD"
    UPDATE_USER_BAD_CURRENT_PASSWORD = "UPDATE_USER_BAD_CURRENT_PASSWORD"

    # -- items --
    ITEM_NOT_FOUND = "Item not found"
    ITEM_OWNER_ONLY = "Only the item's owner or a superuser may do this"
    ITEM_ALREADY_OWNED = "The item already belongs to this user"

    # -- comments --
    COMMENT_NOT_FOUND = "Comment not found"
    COMMENT_AUTHOR_ONLY = "Only its author may edit a comment"
    COMMENT_DELETE_NOT_ALLOWED = (
        "Only its author, the item's owner or a superuser may delete a comment"
    )
    COMMENT_PARENT_NOT_IN_ITEM = "parent_id is not a comment of this item"
    COMMENT_PARENT_DELETED = "A deleted comment cannot be replied to"
    # the limit is comments.models.MAX_DEPTH (a test holds the two together)
    COMMENT_TOO_DEEP = "Replies nest at most 200 levels deep"

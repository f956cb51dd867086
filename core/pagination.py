"""Pagination shared by every list endpoint: offset pages, and keyset pages with cursors.

Offset (`skip`) pages cost what they skip. A keyset page resumes right after the last row of
the previous one (`WHERE (sort_key, id) > (last_key, last_id)` on an index in that order), so
the ten-thousandth page costs what the first does, and rows created or deleted meanwhile never
make a row repeat or go missing.

A cursor is `<payload>.<mac>`, both base64url: the payload is the JSON `[sort key, id]` of the
last row, the MAC an HMAC-SHA256 (keyed by SECRET_KEY) over the payload *and* the list's scope
(its filters and sort, given by the caller). So a cursor that was altered, or that was made for
other filters or another sort, fails the same check: 400 `INVALID_CURSOR`. It is opaque to
clients but not secret: it holds only values of a row the client was shown.
"""

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, NamedTuple, TypeVar

from fastapi import Depends, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from sqlalchemy import ColumnElement, DateTime, Integer, String, literal, tuple_, type_coerce

from core.codes import ErrorCode
from core.config import get_settings
from core.errors import BadRequest

MAX_PAGE_SIZE = 100
# Past a 32-bit offset the databases' integer types overflow; no real client pages that far.
MAX_OFFSET = 2**31 - 1
# A cursor holds one sort key (a title is at most 100 characters) and an id: far below this.
MAX_CURSOR_LENGTH = 1024

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    skip: int
    limit: int

    @classmethod
    def of(cls, items: Sequence[Any], total: int, params: "PageParams") -> "Page[T]":
        """The page `params` asked for, holding `items` (objects are read by attribute)."""
        return cls.model_validate(
            {"items": items, "total": total, "skip": params.skip, "limit": params.limit},
            from_attributes=True,
        )


class KeysetPage(BaseModel, Generic[T]):
    """A page of a list that can be walked by cursor: `next_cursor` is null on the last page,
    `total` null when the caller asked for no count."""

    items: list[T]
    total: int | None
    skip: int
    limit: int
    next_cursor: str | None

    @classmethod
    def of(
        cls,
        items: Sequence[Any],
        total: int | None,
        params: "PageParams",
        next_cursor: str | None,
    ) -> "KeysetPage[T]":
        return cls.model_validate(
            {
                "items": items,
                "total": total,
                "skip": params.skip,
                "limit": params.limit,
                "next_cursor": next_cursor,
            },
            from_attributes=True,
        )


@dataclass(frozen=True, slots=True)
class PageParams:
    skip: int
    limit: int


@dataclass(frozen=True, slots=True)
class KeysetParams(PageParams):
    cursor: str | None = None
    include_total: bool = True


def page_params(default_limit: int) -> Callable[..., Awaitable[PageParams]]:
    """A `PageParams` dependency with its own default page size (skip ≥ 0, limit 1–100)."""

    # async: FastAPI runs a plain `def` dependency in its thread pool, on every request
    async def dependency(
        skip: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="How many rows to skip")] = 0,
        limit: Annotated[
            int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size")
        ] = default_limit,
    ) -> PageParams:
        return PageParams(skip=skip, limit=limit)

    return dependency


def keyset_params(default_limit: int) -> Callable[..., Awaitable[KeysetParams]]:
    """`skip` and `limit` as `page_params`, plus `cursor` and `include_total`."""

    async def dependency(
        page: Annotated[PageParams, Depends(page_params(default_limit))],
        cursor: Annotated[
            str | None,
            Query(
                min_length=1,
                max_length=MAX_CURSOR_LENGTH,
                description="`next_cursor` of the previous page (same filters and sort)",
            ),
        ] = None,
        include_total: Annotated[
            bool, Query(description="Count the matching rows (false: `total` is null)")
        ] = True,
    ) -> KeysetParams:
        if cursor is not None and page.skip > 0:
            raise RequestValidationError(
                [
                    {
                        "loc": ("query", "skip"),
                        "msg": "skip must be 0 when a cursor is given",
                        "type": "value_error",
                    }
                ]
            )
        return KeysetParams(
            skip=page.skip, limit=page.limit, cursor=cursor, include_total=include_total
        )

    return dependency


Pagination = Annotated[PageParams, Depends(page_params(default_limit=10))]


def literal_count(value: int) -> Any:
    """A LIMIT or OFFSET written into the SQL rather than bound: the statement's text then
    carries it, and PostgreSQL reuses one generic plan for a prepared statement instead of
    planning it anew on every execution (with bound limits it cannot cost the plan without
    them), which was a third of a list page's database CPU. Values are checked ints."""
    return literal(int(value), Integer, literal_execute=True)


# -- cursors --


class Position(NamedTuple):
    """Where a keyset page ends: the last row's sort key (as the database compares it) and id."""

    key: str
    id: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(payload: bytes, scope: Mapping[str, Any]) -> bytes:
    key = hmac.new(get_settings().secret_key.encode(), b"items-api cursor", "sha256").digest()
    scoped = json.dumps(scope, sort_keys=True, separators=(",", ":"), default=str).encode()
    # the payload's length first: payload and scope cannot be shifted into one another
    message = len(payload).to_bytes(4, "big") + payload + scoped
    return hmac.new(key, message, hashlib.sha256).digest()[:16]


def encode_cursor(position: Position, *, scope: Mapping[str, Any]) -> str:
    """A cursor resuming after `position`, valid only for a list of this `scope`."""
    payload = json.dumps(list(position), separators=(",", ":")).encode()
    return f"{_b64(payload)}.{_b64(_mac(payload, scope))}"


def decode_cursor(cursor: str, *, scope: Mapping[str, Any]) -> Position:
    """The position a cursor holds, if it was made by us for this `scope`; else 400."""
    invalid = BadRequest(ErrorCode.INVALID_CURSOR)
    encoded_payload, _, encoded_mac = cursor.partition(".")
    try:
        payload, mac = _unb64(encoded_payload), _unb64(encoded_mac)
    except (binascii.Error, ValueError):
        raise invalid from None
    if not hmac.compare_digest(mac, _mac(payload, scope)):
        raise invalid
    key, row_id = json.loads(payload)  # ours (the MAC holds): well-formed
    return Position(key=key, id=row_id)


# -- keyset order --


@dataclass(frozen=True, slots=True)
class KeysetOrder:
    """An order by one sort column, ties broken by id, both in one direction.

    Columns are named, so the same order applies to a table and to a subquery selecting its
    columns (`on`).
    """

    column: Any  # a named column (an ORM attribute)
    id_column: Any
    descending: bool

    def columns(self, on: Any = None) -> tuple[Any, Any]:
        if on is None:
            return self.column, self.id_column
        return on[self.column.key], on[self.id_column.key]

    def order_by(self, on: Any = None) -> tuple[Any, ...]:
        """ORDER BY terms (on `on`, a subquery's `.c`, when given)."""
        return tuple(
            column.desc() if self.descending else column.asc() for column in self.columns(on)
        )

    def after(self, position: Position, dialect: str) -> ColumnElement[bool]:
        """Rows strictly after `position` in this order: a row-value comparison, which both
        databases serve from an index on (sort column, id)."""
        column = self.key_column(None, dialect)
        if column is self.column:
            key = _bind(self.column, position.key)
        else:  # the stored text of a timestamp on SQLite, compared as text (see key_column)
            key = literal(position.key, String)
        row = tuple_(column, self.id_column)
        bound = tuple_(key, _bind(self.id_column, position.id))
        return row < bound if self.descending else row > bound

    def key_column(self, on: Any, dialect: str) -> Any:
        """The sort column (of `on` when given) as cursors carry and compare it."""
        column = self.columns(on)[0]
        if dialect == "sqlite" and _is_timestamp(column):
            # SQLite stores timestamps as text and compares that text: the cursor keeps the
            # stored text itself, so the comparison is exact whatever format a row was
            # written in (the database's default writes milliseconds, the driver microseconds)
            return type_coerce(column, String)
        return column


def position_of(key: Any, row_id: Any) -> Position:
    """The position of a row, from its sort key (as `key_column` read it) and id."""
    if isinstance(key, datetime):
        key = key.isoformat()
    return Position(key=str(key), id=str(row_id))


def _is_timestamp(column: Any) -> bool:
    kind = column.type
    return isinstance(getattr(kind, "impl", kind), DateTime)  # a TypeDecorator's: its impl


def _bind(column: Any, value: str) -> Any:
    """`value` (from a cursor: text) bound as `column`'s type."""
    try:
        python_type = column.type.python_type
    except NotImplementedError:  # a type that does not say (SQLModel's strings): text
        python_type = str
    try:
        typed = datetime.fromisoformat(value) if _is_timestamp(column) else python_type(value)
    except ValueError:
        raise BadRequest(ErrorCode.INVALID_CURSOR) from None
    return literal(typed, column.type)

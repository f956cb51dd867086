"""Offset pagination shared by every list endpoint."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

MAX_PAGE_SIZE = 100
# Past a 32-bit offset the databases' integer types overflow; no real client pages that far.
MAX_OFFSET = 2**31 - 1

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


@dataclass(frozen=True, slots=True)
class PageParams:
    skip: int
    limit: int


def page_params(default_limit: int) -> Callable[..., PageParams]:
    """A `PageParams` dependency with its own default page size (skip ≥ 0, limit 1–100)."""

    def dependency(
        skip: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="How many rows to skip")] = 0,
        limit: Annotated[
            int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size")
        ] = default_limit,
    ) -> PageParams:
        return PageParams(skip=skip, limit=limit)

    return dependency


Pagination = Annotated[PageParams, Depends(page_params(default_limit=10))]

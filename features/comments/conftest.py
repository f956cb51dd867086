"""Helpers shared by the comments tests."""

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from conftest import Account


@pytest.fixture
def comment(client: httpx.AsyncClient) -> Callable[..., Awaitable[dict[str, Any]]]:
    """`await comment(account, item_id, content="hello", parent_id=None)`: the comment's JSON."""

    async def post(
        account: Account, item_id: Any, content: str = "hello", parent_id: Any = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"content": content}
        if parent_id is not None:
            body["parent_id"] = parent_id
        response = await client.post(
            f"/items/{item_id}/comments", json=body, headers=account.headers
        )
        assert response.status_code == 201, response.text
        return response.json()

    return post

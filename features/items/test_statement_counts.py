"""A fixed number of SQL statements per request, whatever the page size; no hidden lazy loads."""

import pytest
from sqlalchemy import select
from sqlalchemy.exc import InvalidRequestError

from core.db import session_factory
from features.items.models import Item


@pytest.fixture
async def hundred_items(client, make_account):
    """100 public items from 10 owners, each with tags (some shared)."""
    for n in range(10):
        owner = await make_account(f"owner{n}")
        bodies = [
            {"title": f"{n}-{k}", "is_public": True, "tags": [f"t{k}", "shared", f"o{n}"]}
            for k in range(10)
        ]
        response = await client.post("/items/bulk", json=bodies, headers=owner.headers)
        assert response.status_code == 201


async def test_list_items_statement_count_does_not_grow(
    client, make_account, hundred_items, count_statements
):
    viewer = await make_account("viewer")
    counts = {}
    for limit in (1, 10, 100):
        with count_statements() as counter:
            response = await client.get("/items", params={"limit": limit}, headers=viewer.headers)
        assert response.status_code == 200
        items = response.json()["items"]
        assert len(items) == limit
        assert all(item["owner"]["username"].startswith("owner") for item in items)
        assert all(len(item["tags"]) == 3 for item in items)
        counts[limit] = counter.count
    assert len(set(counts.values())) == 1, counts
    # (BEGIN on SQLite), the caller, count, items joined with owners, their tags
    assert counts[1] <= 5, counter.statements


async def test_filtered_list_statement_count_does_not_grow(
    client, make_account, hundred_items, count_statements
):
    viewer = await make_account("viewer")
    counts = set()
    for limit in (1, 10, 100):
        with count_statements() as counter:
            response = await client.get(
                "/items",
                params={"limit": limit, "search": "-", "tag": "SHARED"},
                headers=viewer.headers,
            )
        assert len(response.json()["items"]) == limit
        counts.add(counter.count)
    assert len(counts) == 1, counts


async def test_read_one_is_lean(client, alice, bob, count_statements):
    own = (
        await client.post("/items", json={"title": "a", "tags": ["x", "y"]}, headers=alice.headers)
    ).json()
    other = (
        await client.post(
            "/items", json={"title": "b", "is_public": True, "tags": ["z"]}, headers=bob.headers
        )
    ).json()
    counts = []
    for item in (own, other):
        with count_statements() as counter:
            response = await client.get(f"/items/{item['id']}", headers=alice.headers)
        assert response.status_code == 200
        assert response.json() == item
        selects = [s for s in counter.statements if s.lstrip().upper().startswith("SELECT")]
        # the caller (authentication), then the item with its owner and tags in one SELECT
        assert len(selects) == 2, counter.statements
        counts.append(counter.count)
    assert counts[0] == counts[1]


async def test_a_forgotten_load_option_fails_loudly(client, alice):
    await client.post("/items", json={"title": "a", "tags": ["x"]}, headers=alice.headers)
    async with session_factory() as session:
        item = (await session.scalars(select(Item))).one()
        with pytest.raises(InvalidRequestError, match="lazy='raise'"):
            _ = item.tags
        with pytest.raises(InvalidRequestError, match="lazy='raise'"):
            _ = item.owner


@pytest.mark.parametrize(
    "params",
    [
        {"sort": "created_at"},
        {"sort": "-updated_at"},
        {"sort": "updated_at"},
        {"sort": "title"},
        {"sort": "-title"},
        {"owner_only": True},
        {"tag": "shared", "sort": "title"},
    ],
)
async def test_every_list_shape_costs_the_default_lists_statements(
    client, make_account, hundred_items, count_statements, params
):
    viewer = await make_account("viewer")
    own = {"title": "mine", "tags": ["shared"]}
    assert (await client.post("/items", json=own, headers=viewer.headers)).status_code == 201
    with count_statements() as default:
        await client.get("/items", headers=viewer.headers)
    counts = set()
    for limit in (1, 10, 100):
        with count_statements() as counter:
            response = await client.get(
                "/items", params={**params, "limit": limit}, headers=viewer.headers
            )
        assert response.status_code == 200
        counts.add(counter.count)
    assert counts == {default.count}, counter.statements


async def test_a_cursor_page_costs_what_the_first_page_does(
    client, make_account, hundred_items, count_statements
):
    viewer = await make_account("viewer")
    admin = await make_account("root", is_superuser=True)
    for account in (viewer, admin):
        with count_statements() as first:
            page = (await client.get("/items", params={"limit": 5}, headers=account.headers)).json()
        for _ in range(3):
            with count_statements() as later:
                page = (
                    await client.get(
                        "/items",
                        params={"limit": 5, "cursor": page["next_cursor"]},
                        headers=account.headers,
                    )
                ).json()
            assert later.count == first.count
        with count_statements() as uncounted:
            await client.get(
                "/items",
                params={"limit": 5, "cursor": page["next_cursor"], "include_total": False},
                headers=account.headers,
            )
        # the caller, the page (owners joined in), the page's tags; no count
        assert uncounted.count == first.count - 1 <= 3, uncounted.statements


async def test_keyed_creates_cost_a_fixed_number_of_statements(client, alice, count_statements):
    counts = []
    for n, size in enumerate((1, 50, 500)):
        bodies = [{"title": f"item {k}", "tags": ["a", f"t{k % 5}"]} for k in range(size)]
        headers = {**alice.headers, "Idempotency-Key": f"bulk-{n}"}
        with count_statements() as counter:
            response = await client.post("/items/bulk", json=bodies, headers=headers)
        assert response.status_code == 201
        counts.append(counter.count)
    assert len(set(counts)) == 1, counts

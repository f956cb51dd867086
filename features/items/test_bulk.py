"""POST /items/bulk: 1–500 items, one transaction, all or nothing, set-based."""

import pytest

from features.items import service


async def test_bulk_creates_all_in_order_with_tags_and_owner(client, alice, db_scalar):
    bodies = [
        {"title": "first", "tags": ["Shared", "one"]},
        {"title": "second", "description": "d", "is_public": True, "tags": ["shared"]},
        {"title": "third"},
    ]
    response = await client.post("/items/bulk", json=bodies, headers=alice.headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["created"] == 3
    items = body["items"]
    assert [item["title"] for item in items] == ["first", "second", "third"]
    assert [item["tags"] for item in items] == [["one", "shared"], ["shared"], []]
    assert items[1]["description"] == "d"
    assert items[1]["is_public"] is True
    assert all(item["owner"]["username"] == "alice" for item in items)
    assert all(item["created_at"] and item["updated_at"] for item in items)
    assert await db_scalar("select count(*) from items") == 3
    assert await db_scalar("select count(*) from tags") == 2
    assert await db_scalar("select count(*) from item_tags") == 3
    for item in items:
        one = await client.get(f"/items/{item['id']}", headers=alice.headers)
        assert one.json() == item


async def test_bulk_reuses_existing_tags(client, alice, db_scalar):
    await client.post("/items", json={"title": "x", "tags": ["old"]}, headers=alice.headers)
    response = await client.post(
        "/items/bulk", json=[{"title": "y", "tags": ["OLD", "new"]}], headers=alice.headers
    )
    assert response.status_code == 201
    assert await db_scalar("select count(*) from tags") == 2


async def test_bulk_of_500_in_a_fixed_number_of_statements(client, alice, count_statements):
    bodies = [{"title": f"item {n}", "tags": [f"t{n % 7}", "all"]} for n in range(500)]
    with count_statements() as counter:
        response = await client.post("/items/bulk", json=bodies, headers=alice.headers)
    assert response.status_code == 201, response.text
    assert response.json()["created"] == 500
    small = [{"title": "one", "tags": ["a"]}]
    with count_statements() as small_counter:
        response = await client.post("/items/bulk", json=small, headers=alice.headers)
    assert response.status_code == 201
    # auth, items, tag upsert, tag ids, links, items+owners, tags (+ BEGIN/COMMIT where sent)
    assert counter.count == small_counter.count <= 9, counter.statements


@pytest.mark.parametrize(
    "body",
    [
        [],
        [{"title": f"t{n}"} for n in range(501)],
        [{"title": "fine"}, {"title": ""}],
        [{"title": "fine", "tags": ["ok"]}, {"title": "bad tags", "tags": ["x" * 31]}],
        [{"title": "fine"}, {"description": "no title"}],
        {"title": "not a list"},
        [{"title": "fine"}, {"title": "nul\x00"}],
    ],
)
async def test_invalid_bulk_writes_nothing(client, alice, db_scalar, body):
    response = await client.post("/items/bulk", json=body, headers=alice.headers)
    assert response.status_code == 422, response.text
    assert await db_scalar("select count(*) from items") == 0
    assert await db_scalar("select count(*) from tags") == 0


async def test_bulk_of_exactly_500_is_allowed(client, alice, db_scalar):
    bodies = [{"title": f"t{n}"} for n in range(500)]
    response = await client.post("/items/bulk", json=bodies, headers=alice.headers)
    assert response.status_code == 201
    assert await db_scalar("select count(*) from items") == 500


async def test_a_failure_midway_rolls_everything_back(client, alice, db_scalar, monkeypatch):
    original = service.upsert_tags

    async def upsert_then_fail(**kwargs):
        await original(**kwargs)  # items and tags are written in the transaction...
        raise RuntimeError("boom")  # ...and then something fails

    monkeypatch.setattr(service, "upsert_tags", upsert_then_fail)
    with pytest.raises(RuntimeError):
        await client.post(
            "/items/bulk",
            json=[{"title": "a", "tags": ["x"]}, {"title": "b"}],
            headers=alice.headers,
        )
    assert await db_scalar("select count(*) from items") == 0
    assert await db_scalar("select count(*) from tags") == 0


async def test_bulk_needs_authentication(client, db_scalar):
    response = await client.post("/items/bulk", json=[{"title": "a"}])
    assert response.status_code == 401
    assert await db_scalar("select count(*) from items") == 0


async def test_the_largest_bulk_fits_in_one_statement_per_table(client, alice, db_scalar):
    # 500 items × 20 distinct tags: 10 000 tag names and 10 000 links, within every
    # database's bound-parameter limit
    bodies = [{"title": f"item {n}", "tags": [f"{n}-{k}" for k in range(20)]} for n in range(500)]
    response = await client.post("/items/bulk", json=bodies, headers=alice.headers)
    assert response.status_code == 201, response.text
    assert response.json()["items"][499]["tags"] == sorted(f"499-{k}" for k in range(20))
    assert await db_scalar("select count(*) from tags") == 10_000
    assert await db_scalar("select count(*) from item_tags") == 10_000

"""Create, read, update, replace and delete one item: bodies, status codes, database state."""

import asyncio
import uuid

import pytest


async def test_create_returns_the_item_with_owner_and_folded_sorted_tags(
    create_item, alice, db_scalar
):
    item = await create_item(
        alice, title="  Lamp  ", description="bright", tags=["Zed", "alpha", "ZED", " b "]
    )
    assert item["title"] == "Lamp"
    assert item["description"] == "bright"
    assert item["is_public"] is False
    assert item["tags"] == ["alpha", "b", "zed"]
    assert item["owner"] == {"id": alice.id, "username": "alice", "full_name": "Alice Liddell"}
    assert item["owner_id"] == alice.id
    assert item["created_at"] == item["updated_at"]
    assert item["created_at"].endswith(("+00:00", "Z"))
    uuid.UUID(item["id"])
    assert await db_scalar("select count(*) from items") == 1
    assert await db_scalar("select count(*) from tags") == 3
    assert await db_scalar("select count(*) from item_tags") == 3


async def test_create_defaults(create_item, alice):
    item = await create_item(alice)
    assert (item["description"], item["is_public"], item["tags"]) == (None, False, [])


async def test_tags_are_stored_once_and_shared(create_item, alice, bob, db_scalar):
    await create_item(alice, tags=["Red", "blue"])
    await create_item(bob, tags=["RED", "green"])
    assert await db_scalar("select count(*) from tags") == 3
    assert await db_scalar("select count(*) from tags where name = 'red'") == 1
    assert await db_scalar("select count(*) from item_tags") == 4


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"title": ""},
        {"title": "   "},
        {"title": "x" * 101},
        {"title": None},
        {"title": "nul\x00byte"},
        {"title": "ok", "description": "x" * 10_001},
        {"title": "ok", "description": "nul\x00"},
        {"title": "ok", "is_public": "maybe"},
        {"title": "ok", "tags": [""]},
        {"title": "ok", "tags": ["   "]},
        {"title": "ok", "tags": ["x" * 31]},
        {"title": "ok", "tags": [f"t{n}" for n in range(21)]},
        {"title": "ok", "tags": "not-a-list"},
        {"title": "ok", "tags": ["nul\x00"]},
    ],
)
async def test_create_rejects_invalid_bodies(client, alice, db_scalar, body):
    response = await client.post("/items", json=body, headers=alice.headers)
    assert response.status_code == 422, response.text
    assert await db_scalar("select count(*) from items") == 0
    assert await db_scalar("select count(*) from tags") == 0


async def test_create_rejects_a_lone_surrogate(client, alice):
    body = b'{"title": "bad \\ud800 title"}'
    response = await client.post(
        "/items", content=body, headers={**alice.headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 422


async def test_limits_are_inclusive(create_item, alice):
    item = await create_item(
        alice,
        title="x" * 100,
        description="d" * 10_000,
        tags=[f"t{n:02}" + "x" * 27 for n in range(20)],
    )
    assert len(item["title"]) == 100
    assert len(item["tags"]) == 20


async def test_duplicate_tags_count_once_towards_the_limit(create_item, alice):
    item = await create_item(alice, tags=[f"T{n}" for n in range(20)] + ["t0", "T1"])
    assert len(item["tags"]) == 20


async def test_read_one(client, create_item, alice):
    item = await create_item(alice, tags=["b", "a"])
    response = await client.get(f"/items/{item['id']}", headers=alice.headers)
    assert response.status_code == 200
    assert response.json() == item


async def test_read_unknown_or_malformed_id(client, alice):
    assert (await client.get(f"/items/{uuid.uuid4()}", headers=alice.headers)).status_code == 404
    response = await client.get("/items/not-a-uuid", headers=alice.headers)
    assert response.status_code == 422
    assert (await client.patch("/items/123", json={}, headers=alice.headers)).status_code == 422
    assert (await client.delete("/items/123", headers=alice.headers)).status_code == 422


async def test_patch_changes_only_the_fields_sent(client, create_item, alice):
    item = await create_item(alice, description="keep", is_public=True, tags=["keep"])
    await asyncio.sleep(0.01)  # SQLite keeps milliseconds
    response = await client.patch(
        f"/items/{item['id']}", json={"title": " New "}, headers=alice.headers
    )
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched["title"] == "New"
    assert (patched["description"], patched["is_public"], patched["tags"]) == (
        "keep",
        True,
        ["keep"],
    )
    assert patched["created_at"] == item["created_at"]
    assert patched["updated_at"] > item["updated_at"]
    again = await client.get(f"/items/{item['id']}", headers=alice.headers)
    assert again.json() == patched


async def test_patch_tags_only_advances_updated_at(client, create_item, alice, db_scalar):
    item = await create_item(alice, tags=["old", "both"])
    await asyncio.sleep(0.01)
    response = await client.patch(
        f"/items/{item['id']}", json={"tags": ["BOTH", "new"]}, headers=alice.headers
    )
    assert response.status_code == 200
    assert response.json()["tags"] == ["both", "new"]
    assert response.json()["updated_at"] > item["updated_at"]
    assert await db_scalar("select count(*) from item_tags") == 2
    # unused tags are kept (see upsert_tags: never deleting them keeps the upsert race-free)
    assert await db_scalar("select count(*) from tags") == 3


async def test_patch_description_null_clears_it(client, create_item, alice):
    item = await create_item(alice, description="text")
    response = await client.patch(
        f"/items/{item['id']}", json={"description": None}, headers=alice.headers
    )
    assert response.status_code == 200
    assert response.json()["description"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"title": None},
        {"title": ""},
        {"title": "  "},
        {"is_public": None},
        {"tags": None},
        {"tags": ["x" * 31]},
        {"description": "x" * 10_001},
    ],
)
async def test_patch_rejects_invalid_bodies(client, create_item, alice, body):
    item = await create_item(alice, tags=["keep"])
    response = await client.patch(f"/items/{item['id']}", json=body, headers=alice.headers)
    assert response.status_code == 422, response.text
    unchanged = await client.get(f"/items/{item['id']}", headers=alice.headers)
    assert unchanged.json() == item


async def test_empty_patch_is_allowed(client, create_item, alice):
    item = await create_item(alice)
    response = await client.patch(f"/items/{item['id']}", json={}, headers=alice.headers)
    assert response.status_code == 200
    assert response.json()["title"] == item["title"]


async def test_put_replaces_every_field_and_resets_the_unsent(
    client, create_item, alice, db_scalar
):
    item = await create_item(alice, description="old", is_public=True, tags=["a", "b"])
    await asyncio.sleep(0.01)
    response = await client.put(
        f"/items/{item['id']}", json={"title": "New"}, headers=alice.headers
    )
    assert response.status_code == 200, response.text
    replaced = response.json()
    assert replaced["title"] == "New"
    assert (replaced["description"], replaced["is_public"], replaced["tags"]) == (None, False, [])
    assert replaced["id"] == item["id"]
    assert replaced["owner_id"] == alice.id
    assert replaced["created_at"] == item["created_at"]
    assert replaced["updated_at"] > item["updated_at"]
    assert await db_scalar("select count(*) from item_tags") == 0


async def test_put_requires_a_full_body(client, create_item, alice):
    item = await create_item(alice)
    response = await client.put(f"/items/{item['id']}", json={}, headers=alice.headers)
    assert response.status_code == 422


async def test_delete_removes_the_item_and_its_links(client, create_item, alice, db_scalar):
    item = await create_item(alice, tags=["a"])
    other = await create_item(alice, tags=["a"])
    response = await client.delete(f"/items/{item['id']}", headers=alice.headers)
    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get(f"/items/{item['id']}", headers=alice.headers)).status_code == 404
    assert (await client.delete(f"/items/{item['id']}", headers=alice.headers)).status_code == 404
    assert await db_scalar("select count(*) from items") == 1
    assert await db_scalar("select count(*) from item_tags") == 1
    still = await client.get(f"/items/{other['id']}", headers=alice.headers)
    assert still.json()["tags"] == ["a"]


async def test_deleting_a_user_deletes_their_items(
    client, create_item, admin, alice, bob, db_scalar
):
    item = await create_item(alice, tags=["a"])
    kept = await create_item(bob)
    transfer = await client.post(
        f"/items/{kept['id']}/transfer", json={"new_owner_id": alice.id}, headers=bob.headers
    )
    assert transfer.status_code == 200
    await asyncio.sleep(0.002)  # SQLite keeps milliseconds: keep the log's order unambiguous
    back = await client.post(
        f"/items/{kept['id']}/transfer", json={"new_owner_id": bob.id}, headers=alice.headers
    )
    assert back.status_code == 200
    response = await client.delete(f"/users/{alice.id}", headers=admin.headers)
    assert response.status_code == 204, response.text
    assert await db_scalar("select count(*) from items") == 1
    assert await db_scalar("select count(*) from item_tags") == 0
    assert (await client.get(f"/items/{item['id']}", headers=admin.headers)).status_code == 404
    # the kept item's log stays; alice's id in it is forgotten
    log = (await client.get(f"/items/{kept['id']}/transfers", headers=bob.headers)).json()
    assert [(entry["from_user_id"], entry["to_user_id"]) for entry in log] == [
        (bob.id, None),
        (None, bob.id),
    ]


async def test_owner_and_timestamps_cannot_be_written_through_the_body(
    client, create_item, alice, bob
):
    item = await create_item(alice, owner_id=bob.id, created_at="2000-01-01T00:00:00Z")
    assert item["owner_id"] == alice.id
    assert not item["created_at"].startswith("2000")
    response = await client.patch(
        f"/items/{item['id']}", json={"owner_id": bob.id, "id": bob.id}, headers=alice.headers
    )
    assert response.status_code == 200
    assert (response.json()["owner_id"], response.json()["id"]) == (alice.id, item["id"])

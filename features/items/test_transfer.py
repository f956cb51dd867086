"""POST /items/{id}/transfer and GET /items/{id}/transfers."""

import asyncio
import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncSession


async def transfer(client, account, item_id, new_owner_id):
    return await client.post(
        f"/items/{item_id}/transfer",
        json={"new_owner_id": str(new_owner_id)},
        headers=account.headers,
    )


@pytest.fixture
def state(db_scalar, is_postgres):
    """`await state(item_id)`: the owner in the database and how many log rows the item has."""

    async def read(item_id):
        # SQLite stores UUIDs as 32 hex characters
        key = uuid.UUID(item_id) if is_postgres else uuid.UUID(item_id).hex
        owner = await db_scalar("select owner_id from items where id = :id", id=key)
        logs = await db_scalar("select count(*) from transfer_logs where item_id = :id", id=key)
        return str(uuid.UUID(str(owner))), logs

    return read


async def test_owner_transfers_and_the_log_records_it(client, create_item, alice, bob, state):
    item = await create_item(alice, tags=["t"])
    response = await transfer(client, alice, item["id"], bob.id)
    assert response.status_code == 200, response.text
    moved = response.json()
    assert moved["owner_id"] == bob.id
    assert moved["owner"] == {"id": bob.id, "username": "bob", "full_name": None}
    assert moved["tags"] == ["t"]
    assert moved["updated_at"] >= item["updated_at"]
    assert await state(item["id"]) == (bob.id, 1)

    # the item is private: alice no longer sees it, bob does
    assert (await client.get(f"/items/{item['id']}", headers=alice.headers)).status_code == 404
    log = await client.get(f"/items/{item['id']}/transfers", headers=bob.headers)
    assert log.status_code == 200
    [entry] = log.json()
    assert entry["item_id"] == item["id"]
    assert (entry["from_user_id"], entry["to_user_id"]) == (alice.id, bob.id)
    assert entry["transferred_at"].endswith(("+00:00", "Z"))
    uuid.UUID(entry["id"])


async def test_superuser_transfer_logs_the_previous_owner(
    client, create_item, alice, bob, admin, state
):
    item = await create_item(alice)
    response = await transfer(client, admin, item["id"], bob.id)
    assert response.status_code == 200
    log = (await client.get(f"/items/{item['id']}/transfers", headers=admin.headers)).json()
    assert [(e["from_user_id"], e["to_user_id"]) for e in log] == [(alice.id, bob.id)]


async def test_log_is_oldest_first(client, create_item, alice, bob, admin):
    item = await create_item(alice)
    # SQLite keeps milliseconds: entries within one would be ordered by id only
    assert (await transfer(client, alice, item["id"], bob.id)).status_code == 200
    await asyncio.sleep(0.002)
    assert (await transfer(client, bob, item["id"], admin.id)).status_code == 200
    await asyncio.sleep(0.002)
    assert (await transfer(client, admin, item["id"], alice.id)).status_code == 200
    log = (await client.get(f"/items/{item['id']}/transfers", headers=alice.headers)).json()
    assert [(e["from_user_id"], e["to_user_id"]) for e in log] == [
        (alice.id, bob.id),
        (bob.id, admin.id),
        (admin.id, alice.id),
    ]
    assert [e["transferred_at"] for e in log] == sorted(e["transferred_at"] for e in log)


async def test_transfer_to_the_current_owner_is_400(client, create_item, alice, admin, state):
    item = await create_item(alice)
    assert (await transfer(client, alice, item["id"], alice.id)).status_code == 400
    assert (await transfer(client, admin, item["id"], alice.id)).status_code == 400
    assert await state(item["id"]) == (alice.id, 0)


async def test_unknown_or_inactive_new_owner_is_404(
    client, create_item, alice, make_account, state
):
    item = await create_item(alice)
    unknown = await transfer(client, alice, item["id"], uuid.uuid4())
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "User not found"}
    inactive = await make_account("sleeper", is_active=False)
    response = await transfer(client, alice, item["id"], inactive.id)
    assert response.status_code == 404
    assert response.json() == {"detail": "User not found"}
    assert await state(item["id"]) == (alice.id, 0)


async def test_others_cannot_transfer(client, create_item, alice, bob, make_account, state):
    carol = await make_account("carol")
    private = await create_item(alice)
    public = await create_item(alice, is_public=True)
    assert (await transfer(client, bob, private["id"], bob.id)).status_code == 404
    assert (await transfer(client, bob, public["id"], carol.id)).status_code == 403
    assert (await transfer(client, bob, public["id"], bob.id)).status_code == 403
    # not revealing whether the target user exists either
    assert (await transfer(client, bob, public["id"], uuid.uuid4())).status_code == 403
    assert await state(private["id"]) == (alice.id, 0)
    assert await state(public["id"]) == (alice.id, 0)


@pytest.mark.parametrize(
    "body", [{}, {"new_owner_id": "nope"}, {"new_owner_id": None}, {"new_owner_id": 5}]
)
async def test_bad_transfer_body_is_422(client, create_item, alice, body, state):
    item = await create_item(alice)
    response = await client.post(f"/items/{item['id']}/transfer", json=body, headers=alice.headers)
    assert response.status_code == 422
    assert await state(item["id"]) == (alice.id, 0)


async def test_transfer_of_unknown_or_malformed_item(client, alice, bob):
    assert (await transfer(client, alice, uuid.uuid4(), bob.id)).status_code == 404
    response = await client.post(
        "/items/xyz/transfer", json={"new_owner_id": bob.id}, headers=alice.headers
    )
    assert response.status_code == 422


async def test_a_failure_after_the_change_leaves_owner_and_log_untouched(
    client, create_item, alice, bob, state, monkeypatch
):
    item = await create_item(alice)

    async def failing_commit(self):
        await self.flush()  # the owner change and the log row reach the database...
        raise RuntimeError("commit failed")  # ...and the transaction never commits

    monkeypatch.setattr(AsyncSession, "commit", failing_commit)
    with pytest.raises(RuntimeError):
        await transfer(client, alice, item["id"], bob.id)
    monkeypatch.undo()
    assert await state(item["id"]) == (alice.id, 0)


async def test_transfers_log_visibility(client, create_item, alice, bob, admin):
    public = await create_item(alice, is_public=True)
    private = await create_item(alice)
    assert (
        await client.get(f"/items/{public['id']}/transfers", headers=alice.headers)
    ).json() == []
    assert (
        await client.get(f"/items/{public['id']}/transfers", headers=bob.headers)
    ).status_code == 403
    assert (
        await client.get(f"/items/{private['id']}/transfers", headers=bob.headers)
    ).status_code == 404
    assert (
        await client.get(f"/items/{private['id']}/transfers", headers=admin.headers)
    ).status_code == 200

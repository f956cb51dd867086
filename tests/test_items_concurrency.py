"""Concurrency through the real app on PostgreSQL: row-locked transfers, racing tag upserts.

Every request runs in its own session and transaction (the ASGI client calls the app once per
request); `asyncio.gather` makes them overlap on the database.
"""

import asyncio
import itertools
import random
from collections import Counter

import pytest

from core.db import engine

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.commits,
    pytest.mark.skipif(
        engine.dialect.name != "postgresql",
        reason="SQLite serializes every write transaction (BEGIN IMMEDIATE) and ignores FOR "
        "UPDATE: row locks and racing upserts can only be exercised on PostgreSQL "
        "(set TEST_DATABASE_URL)",
    ),
]


@pytest.mark.parametrize("public", [True, False], ids=["public", "private"])
async def test_concurrent_transfers_serialize(client, alice, bob, admin, public):
    created = await client.post(
        "/items", json={"title": "Hot potato", "is_public": public}, headers=alice.headers
    )
    item_id = created.json()["id"]
    users = {alice.id: alice, bob.id: bob}

    def request(n):
        # the two owners each try to hand it to the other, the superuser to either of them
        actor, target = [(alice, bob), (bob, alice), (admin, random.choice([alice, bob]))][n % 3]  # noqa: S311
        return client.post(
            f"/items/{item_id}/transfer", json={"new_owner_id": target.id}, headers=actor.headers
        )

    responses = await asyncio.gather(*(request(n) for n in range(30)))

    statuses = Counter(response.status_code for response in responses)
    assert set(statuses) <= {200, 400, 403, 404}, statuses  # no 5xx, no 409
    successes = [response.json() for response in responses if response.status_code == 200]
    assert successes

    log_response = await client.get(f"/items/{item_id}/transfers", headers=admin.headers)
    log = log_response.json()
    # every successful transfer logged exactly once
    assert len(log) == len(successes)
    assert Counter(entry["to_user_id"] for entry in log) == Counter(
        success["owner_id"] for success in successes
    )
    # no lost update: each transfer starts from where the previous one left the item
    assert log[0]["from_user_id"] == alice.id
    for previous, entry in itertools.pairwise(log):
        assert entry["from_user_id"] == previous["to_user_id"]
        assert entry["from_user_id"] != entry["to_user_id"]
    final = await client.get(f"/items/{item_id}", headers=admin.headers)
    assert final.json()["owner_id"] == log[-1]["to_user_id"]
    assert final.json()["owner_id"] in users


async def test_concurrent_creations_share_new_tags(client, alice, bob, db_scalar):
    shared = ["Alpha", "beta", "GAMMA", "delta"]

    def request(n):
        account = alice if n % 2 else bob
        tags = [*shared, f"own-{n}"]
        random.shuffle(tags)
        return client.post(
            "/items", json={"title": f"item {n}", "tags": tags}, headers=account.headers
        )

    responses = await asyncio.gather(*(request(n) for n in range(20)))

    assert [response.status_code for response in responses] == [201] * 20, [
        response.text for response in responses if response.status_code != 201
    ]
    for n, response in enumerate(responses):
        assert response.json()["tags"] == sorted(["alpha", "beta", "delta", "gamma", f"own-{n}"])
    assert await db_scalar("select count(*) from tags") == 4 + 20
    assert await db_scalar("select count(*) from item_tags") == 20 * 5


async def test_concurrent_bulk_creations_share_new_tags(client, alice, bob, db_scalar):
    def request(n):
        account = alice if n % 2 else bob
        bodies = [{"title": f"{n}-{k}", "tags": ["one", "two", f"k{k}"]} for k in range(10)]
        return client.post("/items/bulk", json=bodies, headers=account.headers)

    responses = await asyncio.gather(*(request(n) for n in range(10)))

    assert [response.status_code for response in responses] == [201] * 10
    assert await db_scalar("select count(*) from items") == 100
    assert await db_scalar("select count(*) from tags") == 2 + 10


async def test_concurrent_patches_of_tags_do_not_merge(client, create_item, alice, db_scalar):
    item = await create_item(alice, tags=["a", "b", "c"])
    requested = [[f"t{n}"] for n in range(8)]

    responses = await asyncio.gather(
        *(
            client.patch(f"/items/{item['id']}", json={"tags": tags}, headers=alice.headers)
            for tags in requested
        )
    )

    assert [r.status_code for r in responses] == [200] * len(requested)
    final = (await client.get(f"/items/{item['id']}", headers=alice.headers)).json()["tags"]
    # the row lock queues the writers: the last one wins whole, nothing is merged
    assert final in requested
    assert await db_scalar("SELECT count(*) FROM item_tags") == 1


async def test_concurrent_identical_puts_all_succeed(client, create_item, alice):
    item = await create_item(alice, title="before")
    body = {"title": "after", "tags": ["z"]}

    responses = await asyncio.gather(
        *(client.put(f"/items/{item['id']}", json=body, headers=alice.headers) for _ in range(8))
    )

    assert {r.status_code for r in responses} == {200}
    assert {r.json()["tags"][0] for r in responses} == {"z"}

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


@pytest.mark.parametrize(
    "writes",
    [["patch"] * 6, ["put"] * 3 + ["patch"] * 3, ["delete", "patch", "transfer", "put"]],
    ids=["patches", "puts-and-patches", "mixed"],
)
async def test_writers_holding_the_same_etag_exactly_one_succeeds(
    client, create_item, alice, bob, db_scalar, writes
):
    item = await create_item(alice, title="before")
    etag = (await client.get(f"/items/{item['id']}", headers=alice.headers)).headers["ETag"]
    headers = {**alice.headers, "If-Match": etag}
    requests = {
        "patch": lambda n: client.patch(
            f"/items/{item['id']}", json={"title": f"patch {n}"}, headers=headers
        ),
        "put": lambda n: client.put(
            f"/items/{item['id']}", json={"title": f"put {n}"}, headers=headers
        ),
        "delete": lambda n: client.delete(f"/items/{item['id']}", headers=headers),
        "transfer": lambda n: client.post(
            f"/items/{item['id']}/transfer", json={"new_owner_id": bob.id}, headers=headers
        ),
    }

    responses = await asyncio.gather(*(requests[kind](n) for n, kind in enumerate(writes)))

    won = [n for n, r in enumerate(responses) if r.status_code in (200, 204)]
    assert len(won) == 1, [r.status_code for r in responses]
    winner, kind = responses[won[0]], writes[won[0]]
    for loser in (r for n, r in enumerate(responses) if n != won[0]):
        if kind in ("delete", "transfer"):
            # the item is gone, or no longer alice's (it is private): authorization first
            assert loser.status_code == 404, loser.text
        else:
            # the others got 412 with the ETag the winner left
            assert loser.status_code == 412, loser.text
            assert loser.json() == {"detail": "PRECONDITION_FAILED"}
            assert loser.headers["ETag"] == winner.headers["ETag"]
    if kind in ("patch", "put"):
        final = await client.get(f"/items/{item['id']}", headers=alice.headers)
        assert final.json()["title"] == winner.json()["title"]
    assert await db_scalar("SELECT count(*) FROM transfer_logs") <= 1


async def test_counts_stay_exact_under_concurrent_writes(
    client, make_account, db_execute, counts_match_items
):
    users = [await make_account(f"writer{n}") for n in range(4)]
    created = await asyncio.gather(
        *(
            client.post(
                "/items/bulk",
                json=[{"title": f"{n}-{k}", "is_public": k % 2 == 0} for k in range(5)],
                headers=user.headers,
            )
            for n, user in enumerate(users)
        ),
        *(
            client.post("/items", json={"title": "one", "is_public": True}, headers=user.headers)
            for user in users
        ),
    )
    assert {r.status_code for r in created} == {201}
    items = [(r.json().get("items") or [r.json()]) for r in created]
    mine = {
        user.id: [i for batch in items for i in batch if i["owner_id"] == user.id] for user in users
    }

    def toggle(user, item):
        return client.patch(
            f"/items/{item['id']}", json={"is_public": not item["is_public"]}, headers=user.headers
        )

    def give(user, item, target):
        return client.post(
            f"/items/{item['id']}/transfer", json={"new_owner_id": target.id}, headers=user.headers
        )

    writes = []
    for n, user in enumerate(users):
        own = mine[user.id]
        writes += [toggle(user, own[0]), toggle(user, own[1]), give(user, own[2], users[n - 1])]
        writes.append(client.delete(f"/items/{own[3]['id']}", headers=user.headers))
    responses = await asyncio.gather(*writes)
    assert {r.status_code for r in responses} <= {200, 204}, [r.text for r in responses]

    await counts_match_items()
    for user in users:
        listed = await client.get("/items", params={"owner_only": True}, headers=user.headers)
        own = await db_execute("SELECT count(*) FROM items WHERE owner_id = :me", me=user.user.id)
        assert listed.json()["total"] == own.scalar()

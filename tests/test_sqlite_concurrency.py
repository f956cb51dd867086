"""SQLite, the embedded default: concurrent readers never block each other (nor wait for a
writer), concurrent writers queue on the busy timeout; nobody sees "database is locked"."""

import asyncio
import sqlite3
from collections import Counter

import pytest

from core.db import engine

pytestmark = [
    pytest.mark.commits,
    pytest.mark.skipif(engine.dialect.name != "sqlite", reason="SQLite's own locking"),
]


async def test_twenty_readers_and_twenty_writers_at_once(client, alice, create_item, db_scalar):
    for n in range(5):
        await create_item(alice, title=f"seed {n}")

    reads = [client.get("/items", headers=alice.headers) for _ in range(20)]
    writes = [
        client.post(
            "/items",
            json={"title": f"concurrent {n}", "tags": ["a", f"t{n}"]},
            headers=alice.headers,
        )
        for n in range(20)
    ]
    responses = await asyncio.gather(*reads, *writes)

    statuses = Counter(response.status_code for response in responses)
    assert statuses == Counter({200: 20, 201: 20}), [
        r.text for r in responses if r.status_code >= 300
    ]
    assert await db_scalar("SELECT count(*) FROM items") == 25
    for response in responses[:20]:
        assert response.json()["total"] >= 5


async def test_readers_do_not_wait_for_a_writer_holding_the_lock(client, alice, create_item):
    item = await create_item(alice, title="visible")
    # another process's writer holds the write lock for the whole time the readers run
    holder = sqlite3.connect(engine.url.database, isolation_level=None, timeout=0)
    try:
        holder.execute("BEGIN IMMEDIATE")
        holder.execute("UPDATE items SET title = 'uncommitted' WHERE title = 'visible'")
        responses = await asyncio.wait_for(
            asyncio.gather(
                *(client.get(f"/items/{item['id']}", headers=alice.headers) for _ in range(20))
            ),
            timeout=20,  # far longer than reads take; a reader stuck behind the lock would time out
        )
        assert [response.status_code for response in responses] == [200] * 20
        # WAL: they read the last committed state
        assert {response.json()["title"] for response in responses} == {"visible"}
    finally:
        holder.execute("ROLLBACK")
        holder.close()


async def test_a_writer_waits_for_the_lock_instead_of_failing(client, alice, db_scalar):
    holder = sqlite3.connect(engine.url.database, isolation_level=None, timeout=0)
    holder.execute("BEGIN IMMEDIATE")
    try:
        pending = asyncio.ensure_future(
            client.post("/items", json={"title": "queued"}, headers=alice.headers)
        )
        await asyncio.sleep(0.5)
        assert not pending.done()  # queued on the busy timeout
    finally:
        holder.execute("COMMIT")
        holder.close()
    response = await asyncio.wait_for(pending, timeout=20)
    assert response.status_code == 201, response.text
    assert await db_scalar("SELECT count(*) FROM items WHERE title = 'queued'") == 1

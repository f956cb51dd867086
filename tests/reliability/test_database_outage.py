"""The database disappearing under the app: killed backends, refused connections, a stuck
row lock. Every answer is a 503 with Retry-After (never a 500), nothing is half-written, and
the app recovers by itself once the database is back."""

import asyncio
import time
import uuid
from collections import Counter

from sqlalchemy import text

from core.codes import ErrorCode
from core.config import get_settings
from core.db import engine
from tests.reliability.pg import admin, refusing_connections, terminate_backends
from tests.reliability.pg import postgres_only as pytestmark  # noqa: F401

UNAVAILABLE = {"detail": ErrorCode.SERVICE_UNAVAILABLE.value}


async def _traffic(client, alice, bob, item_id):
    """One of each kind of request the fault run sends."""
    return await asyncio.gather(
        client.get(f"/items/{item_id}", headers=alice.headers),
        client.get("/items", headers=alice.headers),
        client.post("/items", json={"title": "during"}, headers=alice.headers),
        client.post(
            "/items/bulk", json=[{"title": f"bulk {n}"} for n in range(5)], headers=alice.headers
        ),
        client.post(
            f"/items/{item_id}/transfer", json={"new_owner_id": bob.id}, headers=alice.headers
        ),
        client.get("/users/me", headers=bob.headers),
    )


async def test_killed_backends_and_refused_connections_are_503_then_recover(
    client, alice, bob, create_item, db_scalar
):
    item = await create_item(alice, title="steady")
    async with admin() as connection:
        # the pooled connections die under the app: pre-ping replaces them, or a 503
        assert await terminate_backends(connection) >= 1
        statuses = Counter(r.status_code for r in await _traffic(client, alice, bob, item["id"]))
        assert set(statuses) <= {200, 201, 503}, statuses

        items_before = await db_scalar("SELECT count(*) FROM items")
        logs_before = await db_scalar("SELECT count(*) FROM transfer_logs")
        owner_sql = "SELECT owner_id FROM items WHERE id = :id"
        owner_before = await db_scalar(owner_sql, id=uuid.UUID(item["id"]))
        async with refusing_connections(connection):
            responses = await _traffic(client, alice, bob, item["id"])
            ready = await client.get("http://test/health/ready")
        for response in [*responses, ready]:
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"] == str(get_settings().retry_after_seconds)
        assert all(response.json() == UNAVAILABLE for response in responses)
        assert ready.json() == {"status": "unavailable", "database": "unavailable"}

    # back by itself, without a restart
    deadline = time.monotonic() + 15
    while (await client.get("http://test/health/ready")).status_code != 200:
        assert time.monotonic() < deadline, "the app did not recover"
        await asyncio.sleep(0.2)
    assert (await client.get("/users/me", headers=alice.headers)).status_code == 200
    # the refused requests wrote nothing
    assert await db_scalar("SELECT count(*) FROM items") == items_before
    assert await db_scalar("SELECT count(*) FROM transfer_logs") == logs_before
    assert await db_scalar(owner_sql, id=uuid.UUID(item["id"])) == owner_before


async def test_a_stuck_row_lock_is_503_within_the_lock_timeout(
    client, alice, create_item, db_scalar
):
    item = await create_item(alice, title="before")
    async with engine.connect() as holder:
        await holder.begin()
        await holder.execute(
            text("SELECT id FROM items WHERE id = :id FOR UPDATE"), {"id": uuid.UUID(item["id"])}
        )
        started = time.monotonic()
        response = await client.patch(
            f"/items/{item['id']}", json={"title": "after"}, headers=alice.headers
        )
        waited = time.monotonic() - started
        await holder.rollback()
    assert response.status_code == 503, response.text
    assert response.json() == UNAVAILABLE
    assert response.headers["retry-after"]
    assert waited < 30  # bounded by DB_LOCK_TIMEOUT_MS, not waiting for the holder
    title = await db_scalar("SELECT title FROM items WHERE id = :id", id=uuid.UUID(item["id"]))
    assert title == "before"
    # and the lock gone, the same request goes through
    again = await client.patch(
        f"/items/{item['id']}", json={"title": "after"}, headers=alice.headers
    )
    assert again.status_code == 200


async def test_the_timeouts_are_set_on_every_connection():
    settings = get_settings()
    async with engine.connect() as connection:
        statement = (await connection.execute(text("SHOW statement_timeout"))).scalar()
        lock = (await connection.execute(text("SHOW lock_timeout"))).scalar()
    assert statement == f"{settings.db_statement_timeout_ms}ms" or statement == (
        f"{settings.db_statement_timeout_ms // 1000}s"
    )
    assert (
        lock == f"{settings.db_lock_timeout_ms}ms"
        or lock == f"{settings.db_lock_timeout_ms // 1000}s"
    )

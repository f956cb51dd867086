"""Idempotency-Key under concurrency: racing first requests make exactly one creation, the
claim is committed (and visible) before the work, a failed attempt frees its key, and two
server processes share the keys.

Requests run in their own sessions and transactions (the ASGI client calls the app once per
request); `asyncio.gather` makes them overlap on the database. Row locks exist on PostgreSQL
only; the cross-process test also runs on SQLite (its write lock serializes the processes).
"""

import asyncio
import os
import socket
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from core.db import engine, read_engine
from features.items import service

ROOT = Path(__file__).resolve().parent.parent
ON_POSTGRES = pytest.mark.skipif(
    engine.dialect.name != "postgresql",
    reason="row locks and overlapping write transactions exist on PostgreSQL only "
    "(set TEST_DATABASE_URL)",
)
pytestmark = pytest.mark.commits


def keyed(account, key="race-key"):
    return {**account.headers, "Idempotency-Key": key}


@pytest.fixture
def paused_create(monkeypatch):
    """Make POST /items wait inside the route until `release` is set (then fail if asked)."""
    original = service.create_item
    gate = {"entered": asyncio.Event(), "release": asyncio.Event(), "fail": False}

    async def create_item(**kwargs):
        gate["entered"].set()
        await gate["release"].wait()
        if gate["fail"]:
            raise RuntimeError("the route failed")
        return await original(**kwargs)

    monkeypatch.setattr(service, "create_item", create_item)
    return gate


@pytest.mark.postgres_only
@ON_POSTGRES
async def test_racing_first_requests_create_exactly_once(client, alice, db_scalar):
    body = {"title": "once", "tags": ["a"]}
    responses = await asyncio.gather(
        *(client.post("/items", json=body, headers=keyed(alice)) for _ in range(20))
    )
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}, statuses
    fresh = [
        r for r in responses if r.status_code == 201 and "Idempotent-Replayed" not in r.headers
    ]
    replayed = [r for r in responses if r.headers.get("Idempotent-Replayed") == "true"]
    assert len(fresh) == 1
    assert all(r.json() == fresh[0].json() for r in replayed)
    for conflict in (r for r in responses if r.status_code == 409):
        assert conflict.json() == {"detail": "IDEMPOTENCY_KEY_IN_PROGRESS"}
    assert await db_scalar("SELECT count(*) FROM items") == 1
    assert await db_scalar("SELECT state FROM idempotency_keys") == "done"
    after = await client.post("/items", json=body, headers=keyed(alice))
    assert after.headers["Idempotent-Replayed"] == "true"
    assert after.json() == fresh[0].json()


@pytest.mark.postgres_only
@ON_POSTGRES
async def test_racing_transfers_with_one_key_transfer_once(
    client, alice, bob, create_item, db_scalar
):
    item = await create_item(alice)
    path = f"/items/{item['id']}/transfer"
    responses = await asyncio.gather(
        *(client.post(path, json={"new_owner_id": bob.id}, headers=keyed(alice)) for _ in range(12))
    )
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {200, 409}, statuses
    assert (
        sum("Idempotent-Replayed" not in r.headers for r in responses if r.status_code == 200) == 1
    )
    assert await db_scalar("SELECT count(*) FROM transfer_logs") == 1


async def look(sql):
    """One value read on a connection of its own (a reader: on SQLite it takes no lock)."""
    async with read_engine.connect() as connection:
        return (await connection.execute(text(sql))).scalar()


async def test_the_claim_is_committed_before_the_work_and_the_answer_with_it(
    client, alice, paused_create
):
    first = asyncio.create_task(client.post("/items", json={"title": "a"}, headers=keyed(alice)))
    await asyncio.wait_for(paused_create["entered"].wait(), timeout=10)

    # while the route works, seen from another connection: the key is committed as
    # running (the one exception to one unit of work), the item is not there yet
    assert await look("SELECT state FROM idempotency_keys") == "running"
    assert await look("SELECT count(*) FROM items") == 0

    paused_create["release"].set()
    created = await asyncio.wait_for(first, timeout=10)
    assert created.status_code == 201
    # the answer was kept by the request's own transaction, with the item
    assert await look("SELECT state FROM idempotency_keys") == "done"
    assert await look("SELECT count(*) FROM items") == 1


@pytest.mark.postgres_only
@ON_POSTGRES
async def test_duplicates_of_a_running_request_are_409_or_422(
    client, alice, db_scalar, paused_create
):
    first = asyncio.create_task(client.post("/items", json={"title": "a"}, headers=keyed(alice)))
    await asyncio.wait_for(paused_create["entered"].wait(), timeout=10)
    assert await db_scalar("SELECT state FROM idempotency_keys") == "running"
    same = await client.post("/items", json={"title": "a"}, headers=keyed(alice))
    assert same.status_code == 409
    assert same.json() == {"detail": "IDEMPOTENCY_KEY_IN_PROGRESS"}
    other = await client.post("/items", json={"title": "b"}, headers=keyed(alice))
    assert other.status_code == 422
    assert other.json() == {"detail": "IDEMPOTENCY_KEY_REUSED"}

    paused_create["release"].set()
    created = await asyncio.wait_for(first, timeout=10)
    assert created.status_code == 201
    assert await db_scalar("SELECT count(*) FROM items") == 1
    again = await client.post("/items", json={"title": "a"}, headers=keyed(alice))
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == created.json()


@pytest.mark.postgres_only
@ON_POSTGRES
async def test_a_running_request_that_fails_frees_its_key(client, alice, db_scalar, paused_create):
    first = asyncio.create_task(client.post("/items", json={"title": "a"}, headers=keyed(alice)))
    await asyncio.wait_for(paused_create["entered"].wait(), timeout=10)
    assert await db_scalar("SELECT count(*) FROM idempotency_keys") == 1

    paused_create["fail"] = True
    paused_create["release"].set()
    with pytest.raises(RuntimeError, match="the route failed"):
        await asyncio.wait_for(first, timeout=10)

    assert await db_scalar("SELECT count(*) FROM idempotency_keys") == 0
    assert await db_scalar("SELECT count(*) FROM items") == 0
    paused_create["fail"] = False
    retried = await client.post("/items", json={"title": "another body"}, headers=keyed(alice))
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried.headers


# -- two processes --


def _free_port() -> int:
    for port in range(18100, 18200):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError("no free port in 18100-18199")


@pytest.fixture
async def second_server():
    """The app in a uvicorn process of its own, on the same database: base URL of its API."""
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "uvicorn", "main:app", "--host", "127.0.0.1", "--port", str(port)),
        cwd=ROOT,
        env=os.environ.copy(),  # the test database and SECRET_KEY set by conftest
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as probe:
            for _ in range(100):
                try:
                    if (await probe.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("the second server did not start")
        yield f"http://127.0.0.1:{port}/api/v1"
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=10)


async def test_two_server_processes_share_the_keys(client, alice, db_scalar, second_server):
    body = {"title": "across processes"}
    async with httpx.AsyncClient(base_url=second_server, timeout=30) as remote:
        responses = await asyncio.gather(
            *(
                (client if n % 2 else remote).post("/items", json=body, headers=keyed(alice))
                for n in range(16)
            )
        )
        statuses = Counter(r.status_code for r in responses)
        assert set(statuses) <= {201, 409}, statuses
        fresh = [
            r for r in responses if r.status_code == 201 and "Idempotent-Replayed" not in r.headers
        ]
        assert len(fresh) == 1
        assert await db_scalar("SELECT count(*) FROM items") == 1
        # and each process replays what the other kept
        for side in (client, remote):
            again = await side.post("/items", json=body, headers=keyed(alice))
            assert again.headers["Idempotent-Replayed"] == "true"
            assert again.json() == fresh[0].json()

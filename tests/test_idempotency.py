"""Idempotency-Key on the four creates (items, bulk, transfer, comments), on both databases:
replays, reuse with another body, invalid keys, failures that keep nothing, scoping by caller
and path, expiry, abandoned claims, and what a replay costs (nothing written)."""

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

import cli
from core.config import get_settings
from core.idempotency import IdempotencyKey
from features.items import service

KEY = "retry-4b1f0c2e"


@dataclass
class Route:
    """One idempotent create: where it posts, a body, another body, and what it creates."""

    path: str
    body: object
    other_body: object
    table: str
    status: int


@pytest.fixture(params=["create", "bulk", "transfer", "comment"])
async def route(request, client, alice, bob, make_account, create_item):
    carol = await make_account("carol")
    item = await create_item(alice, is_public=True)
    return {
        "create": Route("/items", {"title": "a", "tags": ["x"]}, {"title": "b"}, "items", 201),
        "bulk": Route(
            "/items/bulk", [{"title": "a"}, {"title": "b"}], [{"title": "c"}], "items", 201
        ),
        "transfer": Route(
            f"/items/{item['id']}/transfer",
            {"new_owner_id": bob.id},
            {"new_owner_id": carol.id},
            "transfer_logs",
            200,
        ),
        "comment": Route(
            f"/items/{item['id']}/comments", {"content": "hi"}, {"content": "ho"}, "comments", 201
        ),
    }[request.param]


def keyed(account, key=KEY):
    return {**account.headers, "Idempotency-Key": key}


@pytest.fixture
def rows(db_scalar):
    async def count(table):
        return await db_scalar(f"SELECT count(*) FROM {table}")  # noqa: S608 - test tables

    return count


async def test_a_retry_gets_the_kept_answer_and_writes_nothing(
    client, alice, route, rows, count_statements
):
    first = await client.post(route.path, json=route.body, headers=keyed(alice))
    assert first.status_code == route.status, first.text
    assert "Idempotent-Replayed" not in first.headers
    created = await rows(route.table)
    assert await rows("idempotency_keys") == 1

    with count_statements() as counter:
        again = await client.post(route.path, json=route.body, headers=keyed(alice))

    assert again.status_code == route.status
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert again.headers.get("ETag") == first.headers.get("ETag")
    assert await rows(route.table) == created
    # the caller and the key: no feature query, nothing written
    assert counter.count == 2, counter.statements
    assert all(s.lstrip().upper().startswith("SELECT") for s in counter.statements)


async def test_the_same_value_in_another_layout_is_the_same_body(client, alice, route, rows):
    first = await client.post(route.path, json=route.body, headers=keyed(alice))
    created = await rows(route.table)
    # the same JSON value: other whitespace, keys in another order
    if isinstance(route.body, dict):
        text = json.dumps(dict(reversed(list(route.body.items()))), indent=3)
    else:
        text = json.dumps(route.body, indent=1, separators=(" ,", " : "))
    again = await client.post(
        route.path,
        content=text.encode(),
        headers={**keyed(alice), "Content-Type": "application/json"},
    )
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert await rows(route.table) == created


async def test_the_same_key_with_another_body_is_422(client, alice, route, rows):
    first = await client.post(route.path, json=route.body, headers=keyed(alice))
    assert first.status_code == route.status
    created = await rows(route.table)
    response = await client.post(route.path, json=route.other_body, headers=keyed(alice))
    assert response.status_code == 422
    assert response.json() == {"detail": "IDEMPOTENCY_KEY_REUSED"}
    assert await rows(route.table) == created


@pytest.mark.parametrize(
    "key",
    ["", " ", "has space", "tab\there", "x" * 256, "é".encode("latin-1"), "\x7f"],
    ids=["empty", "blank", "space", "tab", "too-long", "non-ascii", "del"],
)
async def test_an_invalid_key_is_400_and_nothing_happens(client, alice, route, rows, key):
    before = await rows(route.table)
    response = await client.post(route.path, json=route.body, headers=keyed(alice, key))
    assert response.status_code == 400
    assert response.json() == {"detail": "IDEMPOTENCY_KEY_INVALID"}
    assert await rows(route.table) == before
    assert await rows("idempotency_keys") == 0


@pytest.mark.parametrize("key", ["x", "x" * 255, "!~A-z_0.9/:;=?@[]{}"])
async def test_keys_of_1_to_255_visible_ascii_characters_work(client, alice, route, key):
    first = await client.post(route.path, json=route.body, headers=keyed(alice, key))
    assert first.status_code == route.status
    again = await client.post(route.path, json=route.body, headers=keyed(alice, key))
    assert again.headers["Idempotent-Replayed"] == "true"


async def test_without_a_key_every_request_writes(client, alice, rows):
    for _ in range(2):
        response = await client.post("/items", json={"title": "a"}, headers=alice.headers)
        assert response.status_code == 201
        assert "Idempotent-Replayed" not in response.headers
    assert await rows("items") == 2
    assert await rows("idempotency_keys") == 0


async def test_keys_belong_to_their_caller(client, alice, bob, rows):
    mine = await client.post("/items", json={"title": "a"}, headers=keyed(alice))
    theirs = await client.post("/items", json={"title": "a"}, headers=keyed(bob))
    assert mine.status_code == theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert theirs.json()["owner_id"] == bob.id
    assert await rows("items") == 2


async def test_keys_belong_to_their_target(client, alice, bob, create_item, rows):
    one = await create_item(alice)
    two = await create_item(alice)
    created = await client.post("/items", json={"title": "a"}, headers=keyed(alice))
    bulk = await client.post("/items/bulk", json=[{"title": "a"}], headers=keyed(alice))
    assert created.status_code == bulk.status_code == 201
    assert "Idempotent-Replayed" not in bulk.headers
    # the transfers of two items never share a key's result
    body = {"new_owner_id": bob.id}
    first = await client.post(f"/items/{one['id']}/transfer", json=body, headers=keyed(alice))
    second = await client.post(f"/items/{two['id']}/transfer", json=body, headers=keyed(alice))
    assert first.status_code == second.status_code == 200
    assert "Idempotent-Replayed" not in second.headers
    assert second.json()["id"] == two["id"]
    assert await rows("transfer_logs") == 2


async def test_a_replay_answers_even_after_the_item_changed_hands(
    client, alice, bob, create_item, rows
):
    item = await create_item(alice)
    path = f"/items/{item['id']}/transfer"
    first = await client.post(path, json={"new_owner_id": bob.id}, headers=keyed(alice))
    assert first.status_code == 200
    # alice no longer sees the (private) item, yet her retry gets its kept answer
    assert (await client.get(f"/items/{item['id']}", headers=alice.headers)).status_code == 404
    again = await client.post(path, json={"new_owner_id": bob.id}, headers=keyed(alice))
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert await rows("transfer_logs") == 1


async def test_a_replay_needs_the_callers_token(client, alice, route):
    await client.post(route.path, json=route.body, headers=keyed(alice))
    response = await client.post(route.path, json=route.body, headers={"Idempotency-Key": KEY})
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("path", "failing", "working"),
    [
        ("/items", {"title": ""}, {"title": "fine"}),
        ("/items/bulk", [{"title": "ok"}, {"title": ""}], [{"title": "ok"}]),
        (
            "/items/{item}/comments",
            {"content": "x", "parent_id": str(uuid.UUID(int=1))},
            {"content": "x"},
        ),
        ("/items/{item}/transfer", {"new_owner_id": "{alice}"}, {"new_owner_id": "{bob}"}),
        (
            "/items/{item}/transfer",
            {"new_owner_id": str(uuid.UUID(int=1))},
            {"new_owner_id": "{bob}"},
        ),
    ],
    ids=["invalid-item", "invalid-bulk", "unknown-parent", "to-owner", "unknown-user"],
)
async def test_a_first_request_that_fails_keeps_nothing(
    client, alice, bob, create_item, rows, path, failing, working
):
    item = await create_item(alice)

    def fill(value):
        text = json.dumps(value).replace("{alice}", alice.id).replace("{bob}", bob.id)
        return json.loads(text)

    path = path.format(item=item["id"])
    failed = await client.post(path, json=fill(failing), headers=keyed(alice))
    assert 400 <= failed.status_code < 500, failed.text
    assert await rows("idempotency_keys") == 0
    # the same key again, now with a body that works (a different one): it runs
    response = await client.post(path, json=fill(working), headers=keyed(alice))
    assert response.status_code in (200, 201), response.text
    assert "Idempotent-Replayed" not in response.headers
    assert await rows("idempotency_keys") == 1


async def test_a_request_that_fails_on_commit_keeps_nothing(client, alice, rows, monkeypatch):
    # the request's own commit fails (after the answer was kept in its transaction); the
    # claim's commit, before the work, goes through
    create_item, commit = service.create_item, AsyncSession.commit

    async def marking_create_item(*, session, **kwargs):
        session.info["fail_commit"] = True
        return await create_item(session=session, **kwargs)

    async def failing_commit(self):
        if self.info.pop("fail_commit", False):
            await self.flush()
            raise RuntimeError("commit failed")
        await commit(self)

    monkeypatch.setattr(service, "create_item", marking_create_item)
    monkeypatch.setattr(AsyncSession, "commit", failing_commit)
    with pytest.raises(RuntimeError, match="commit failed"):
        await client.post("/items", json={"title": "a"}, headers=keyed(alice))
    monkeypatch.undo()
    assert await rows("items") == 0
    # whatever claim is left behind is taken over by the retry
    response = await client.post("/items", json={"title": "a"}, headers=keyed(alice))
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers
    assert await rows("items") == 1


async def test_an_abandoned_claim_is_taken_over(client, alice, db_execute, rows):
    # a first attempt whose process died: its row says running, no transaction holds it
    await db_execute(
        insert(IdempotencyKey).values(
            user_id=alice.user.id,
            target=hashlib.sha256(b"POST /api/v1/items").hexdigest(),
            key=KEY,
            fingerprint="another body",
            state="running",
            claim=uuid.uuid4(),
            expires_at=datetime.now(UTC) + timedelta(hours=1),
        )
    )
    response = await client.post("/items", json={"title": "a"}, headers=keyed(alice))
    assert response.status_code == 201, response.text
    again = await client.post("/items", json={"title": "a"}, headers=keyed(alice))
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await rows("items") == 1


async def test_kept_answers_expire(client, alice, db_execute, rows):
    first = await client.post("/items", json={"title": "a"}, headers=keyed(alice))
    assert first.status_code == 201
    await db_execute(
        update(IdempotencyKey).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    # expired: the key is free again, for any body
    again = await client.post("/items", json={"title": "b"}, headers=keyed(alice))
    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again.headers
    assert await rows("items") == 2
    assert await rows("idempotency_keys") == 1


async def test_a_kept_answer_lives_for_the_ttl(client, alice, db_execute):
    before = datetime.now(UTC)
    await client.post("/items", json={"title": "a"}, headers=keyed(alice))
    expires = (await db_execute(select(IdempotencyKey.expires_at))).scalar_one()
    ttl = timedelta(seconds=get_settings().idempotency_ttl_seconds)
    assert ttl == timedelta(days=1)
    assert before + ttl <= expires <= datetime.now(UTC) + ttl


async def test_pruning_removes_expired_keys_only(client, alice, bob, db_execute, rows):
    await client.post("/items", json={"title": "a"}, headers=keyed(alice))
    await client.post("/items", json={"title": "a"}, headers=keyed(bob))
    await db_execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.user_id == alice.user.id)
        .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
    )
    assert await cli.prune_idempotency_keys() == "removed 1 expired idempotency keys"
    assert await rows("idempotency_keys") == 1
    # bob's is still replayed
    again = await client.post("/items", json={"title": "a"}, headers=keyed(bob))
    assert again.headers["Idempotent-Replayed"] == "true"


async def test_a_users_keys_go_with_them(client, alice, admin, rows):
    await client.post("/items", json={"title": "a"}, headers=keyed(alice))
    response = await client.delete(f"/users/{alice.id}", headers=admin.headers)
    assert response.status_code == 204
    assert await rows("idempotency_keys") == 0


# main() runs its own event loop and disposes the engine at the end (see tests/test_cli.py)
@pytest.mark.commits
def test_prune_is_a_command(capsys, monkeypatch):
    async def prune(*, session):
        return 3

    monkeypatch.setattr(cli, "prune_expired", prune)
    assert cli.main(["prune-idempotency-keys"]) == 0
    assert capsys.readouterr().out == "removed 3 expired idempotency keys\n"

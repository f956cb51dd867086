"""ETag, If-None-Match and If-Match on items: strong tags that follow the representation,
304 without a body, 412 with the current tag and nothing changed, authorization first."""

import asyncio
import re
import uuid

import pytest

STRONG = re.compile(r'^"[^"]+"$')


async def read(client, account, item_id, **headers):
    return await client.get(f"/items/{item_id}", headers={**account.headers, **headers})


async def etag(client, account, item_id):
    response = await read(client, account, item_id)
    assert response.status_code == 200
    return response.headers["ETag"]


async def test_every_answer_holding_one_item_carries_its_strong_etag(
    client, alice, bob, create_item
):
    created = await client.post(
        "/items", json={"title": "Lamp", "tags": ["b", "a"]}, headers=alice.headers
    )
    assert created.status_code == 201
    item = created.json()
    tag = created.headers["ETag"]
    assert STRONG.match(tag), tag
    assert await etag(client, alice, item["id"]) == tag  # same representation, same tag

    patched = await client.patch(
        f"/items/{item['id']}", json={"title": "Lamp 2"}, headers=alice.headers
    )
    assert STRONG.match(patched.headers["ETag"])
    assert patched.headers["ETag"] != tag
    assert await etag(client, alice, item["id"]) == patched.headers["ETag"]

    replaced = await client.put(f"/items/{item['id']}", json={"title": "X"}, headers=alice.headers)
    assert await etag(client, alice, item["id"]) == replaced.headers["ETag"]

    moved = await client.post(
        f"/items/{item['id']}/transfer", json={"new_owner_id": bob.id}, headers=alice.headers
    )
    assert moved.status_code == 200
    assert await etag(client, bob, item["id"]) == moved.headers["ETag"]
    assert len({tag, patched.headers["ETag"], replaced.headers["ETag"], moved.headers["ETag"]}) == 4


async def test_the_etag_is_the_same_for_every_reader_and_stays_while_nothing_changes(
    client, alice, bob, admin, create_item
):
    item = await create_item(alice, is_public=True, tags=["t"])
    first = await etag(client, alice, item["id"])
    assert await etag(client, bob, item["id"]) == first
    assert await etag(client, admin, item["id"]) == first
    # neither comments nor other items are part of the item's representation
    commented = await client.post(
        f"/items/{item['id']}/comments", json={"content": "hi"}, headers=bob.headers
    )
    assert commented.status_code == 201
    await create_item(alice, "another")
    assert await etag(client, alice, item["id"]) == first


@pytest.mark.parametrize(
    "change",
    [
        {"title": "new title"},
        {"description": "now described"},
        {"is_public": True},
        {"tags": ["other"]},
        {},  # updated_at advances, and it is part of the representation
    ],
    ids=["title", "description", "is_public", "tags", "updated_at"],
)
async def test_the_etag_changes_with_any_field(client, alice, create_item, change):
    item = await create_item(alice, tags=["t"])
    before = await etag(client, alice, item["id"])
    await asyncio.sleep(0.002)  # SQLite keeps milliseconds
    response = await client.patch(f"/items/{item['id']}", json=change, headers=alice.headers)
    assert response.status_code == 200
    assert response.headers["ETag"] != before


async def test_the_etag_changes_when_the_owner_renames_themselves(client, alice, create_item):
    item = await create_item(alice)
    before = await etag(client, alice, item["id"])
    response = await client.patch(
        "/users/me", json={"username": "alice2", "full_name": "A."}, headers=alice.headers
    )
    assert response.status_code == 200
    after = await read(client, alice, item["id"])
    assert after.json()["owner"]["username"] == "alice2"
    assert after.headers["ETag"] != before


# -- If-None-Match --


async def test_if_none_match_with_the_current_etag_is_304_without_a_body(
    client, alice, create_item
):
    item = await create_item(alice)
    current = await etag(client, alice, item["id"])
    for header in (current, f'"other", {current}', "*", f"W/{current}"):
        response = await read(client, alice, item["id"], **{"If-None-Match": header})
        assert response.status_code == 304, header
        assert response.headers["ETag"] == current
        assert response.content == b""


@pytest.mark.parametrize("header", ['"stale"', f'W/"{uuid.uuid4().hex}"', "garbage", ""])
async def test_if_none_match_with_another_etag_answers_the_item(client, alice, create_item, header):
    item = await create_item(alice)
    response = await read(client, alice, item["id"], **{"If-None-Match": header})
    assert response.status_code == 200
    assert response.json() == item
    assert STRONG.match(response.headers["ETag"])


async def test_if_none_match_after_a_change_answers_the_new_item(client, alice, create_item):
    item = await create_item(alice)
    old = await etag(client, alice, item["id"])
    await client.patch(f"/items/{item['id']}", json={"title": "changed"}, headers=alice.headers)
    response = await read(client, alice, item["id"], **{"If-None-Match": old})
    assert response.status_code == 200
    assert response.json()["title"] == "changed"
    assert response.headers["ETag"] != old


async def test_if_none_match_does_not_reveal_a_hidden_item(client, alice, bob, create_item):
    item = await create_item(alice)
    current = await etag(client, alice, item["id"])
    for header in (current, "*"):
        response = await read(client, bob, item["id"], **{"If-None-Match": header})
        assert response.status_code == 404
        assert response.json() == {"detail": "Item not found"}
    unknown = await read(client, alice, uuid.uuid4(), **{"If-None-Match": "*"})
    assert unknown.status_code == 404


# -- If-Match --

WRITES = {
    "patch": lambda c, item, h, bob: c.patch(f"/items/{item}", json={"title": "new"}, headers=h),
    "put": lambda c, item, h, bob: c.put(f"/items/{item}", json={"title": "new"}, headers=h),
    "delete": lambda c, item, h, bob: c.delete(f"/items/{item}", headers=h),
    "transfer": lambda c, item, h, bob: c.post(
        f"/items/{item}/transfer", json={"new_owner_id": bob.id}, headers=h
    ),
}
SUCCESS = {"patch": 200, "put": 200, "delete": 204, "transfer": 200}


@pytest.fixture
def item_state(db_scalar, is_postgres):
    """`await item_state(item_id)`: the item's row (title, owner, updated_at) and its log size."""

    async def state(item_id):
        key = uuid.UUID(item_id) if is_postgres else uuid.UUID(item_id).hex
        row = await db_scalar(
            "SELECT title || '|' || CAST(owner_id AS TEXT) || '|' || CAST(updated_at AS TEXT)"
            " FROM items WHERE id = :id",
            id=key,
        )
        logs = await db_scalar("SELECT count(*) FROM transfer_logs WHERE item_id = :id", id=key)
        return row, logs

    return state


@pytest.mark.parametrize("write", WRITES)
@pytest.mark.parametrize(
    "header",
    ['"stale"', 'W/"{current}"', '"a", "b"', "garbage", "{current}x"],
    ids=["stale", "weak-current", "others", "garbage", "altered"],
)
async def test_if_match_without_the_current_etag_is_412_and_changes_nothing(
    client, alice, bob, create_item, item_state, write, header
):
    item = await create_item(alice, tags=["t"])
    current = await etag(client, alice, item["id"])
    before = await item_state(item["id"])
    headers = {**alice.headers, "If-Match": header.format(current=current)}

    response = await WRITES[write](client, item["id"], headers, bob)

    assert response.status_code == 412, response.text
    assert response.json() == {"detail": "PRECONDITION_FAILED"}
    assert response.headers["ETag"] == current
    assert await item_state(item["id"]) == before
    assert await etag(client, alice, item["id"]) == current


@pytest.mark.parametrize("write", WRITES)
@pytest.mark.parametrize("header", ["{current}", '"other", {current}', "*"])
async def test_if_match_with_the_current_etag_or_star_writes(
    client, alice, bob, create_item, write, header
):
    item = await create_item(alice)
    current = await etag(client, alice, item["id"])
    headers = {**alice.headers, "If-Match": header.format(current=current)}
    response = await WRITES[write](client, item["id"], headers, bob)
    assert response.status_code == SUCCESS[write], response.text
    if write != "delete":
        assert response.headers["ETag"] != current


@pytest.mark.parametrize("write", WRITES)
async def test_authorization_comes_before_the_precondition(
    client, alice, bob, make_account, create_item, item_state, write
):
    carol = await make_account("carol")
    public = await create_item(alice, is_public=True)
    private = await create_item(alice)
    stale = {**bob.headers, "If-Match": '"stale"'}
    star = {**bob.headers, "If-Match": "*"}
    before = await item_state(public["id"])

    assert (await WRITES[write](client, public["id"], stale, carol)).status_code == 403
    assert (await WRITES[write](client, private["id"], stale, carol)).status_code == 404
    assert (await WRITES[write](client, private["id"], star, carol)).status_code == 404
    assert (await WRITES[write](client, uuid.uuid4(), star, carol)).status_code == 404
    assert await item_state(public["id"]) == before


async def test_a_write_with_an_old_etag_fails_after_another_write(client, alice, create_item):
    item = await create_item(alice)
    current = await etag(client, alice, item["id"])
    headers = {**alice.headers, "If-Match": current}
    first = await client.patch(f"/items/{item['id']}", json={"title": "one"}, headers=headers)
    assert first.status_code == 200
    second = await client.patch(f"/items/{item['id']}", json={"title": "two"}, headers=headers)
    assert second.status_code == 412
    assert second.headers["ETag"] == first.headers["ETag"]
    assert (await read(client, alice, item["id"])).json()["title"] == "one"


async def test_if_match_costs_no_extra_statement(client, alice, create_item, count_statements):
    item = await create_item(alice)
    current = await etag(client, alice, item["id"])
    with count_statements() as plain:
        await client.patch(f"/items/{item['id']}", json={"title": "a"}, headers=alice.headers)
    current = await etag(client, alice, item["id"])
    with count_statements() as conditional:
        response = await client.patch(
            f"/items/{item['id']}",
            json={"title": "b"},
            headers={**alice.headers, "If-Match": current},
        )
    assert response.status_code == 200
    assert conditional.count == plain.count

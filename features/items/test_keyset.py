"""GET /items by cursor: every sort order walked whole, pages that neither repeat nor skip
while items come and go, cursors bound to their list, `include_total`, and `next_cursor`."""

import asyncio
import base64
from datetime import datetime

import pytest

SORTS = ["-created_at", "created_at", "-updated_at", "updated_at", "title", "-title"]


async def page(client, account, **params):
    response = await client.get("/items", params=params, headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def walk(client, account, limit=3, **params):
    """Every page by cursor: the ids in order, and the pages."""
    pages = [await page(client, account, limit=limit, **params)]
    while pages[-1]["next_cursor"] is not None:
        assert len(pages[-1]["items"]) == limit  # only a full page says more may follow
        cursor = pages[-1]["next_cursor"]
        pages.append(await page(client, account, limit=limit, cursor=cursor, **params))
        assert len(pages) < 100
    return [item["id"] for p in pages for item in p["items"]], pages


def expected(items, sort):
    """What `sort` orders these items as: by the field, ties by id, in one direction."""
    field = sort.removeprefix("-")

    def key(item):
        value = item[field]
        return (datetime.fromisoformat(value) if field != "title" else value, item["id"])

    return [item["id"] for item in sorted(items, key=key, reverse=sort.startswith("-"))]


@pytest.fixture
async def catalogue(client, alice, bob, create_item):
    """Items of alice and bob, public and private, with tied timestamps and tied titles; the
    items as each of alice, bob and a superuser would see them."""
    bulk = await client.post(
        "/items/bulk",
        json=[
            {"title": f"t{n % 3:02}", "is_public": n % 2 == 0, "tags": ["bulk"]} for n in range(7)
        ],
        headers=alice.headers,
    )
    assert bulk.status_code == 201
    made = bulk.json()["items"]  # one INSERT: all share created_at
    for n in range(5):
        made.append(await create_item(bob, f"t{n:02}", is_public=n != 1, tags=["bob"]))
        made.append(await create_item(alice, f"u{n}", is_public=n == 3))
    # PATCHes spread updated_at apart from created_at
    for item in made[::4]:
        response = await client.patch(
            f"/items/{item['id']}",
            json={"description": "touched"},
            headers=alice.headers if item["owner_id"] == alice.id else bob.headers,
        )
        made[made.index(item)] = response.json()
        await asyncio.sleep(0.002)  # SQLite keeps milliseconds
    return made


@pytest.mark.parametrize("sort", SORTS)
async def test_every_sort_order_walks_every_visible_item_once_in_order(
    client, alice, bob, admin, catalogue, sort
):
    for viewer, visible in (
        (alice, [i for i in catalogue if i["owner_id"] == alice.id or i["is_public"]]),
        (bob, [i for i in catalogue if i["owner_id"] == bob.id or i["is_public"]]),
        (admin, catalogue),
    ):
        ids, pages = await walk(client, viewer, sort=sort)
        assert ids == expected(visible, sort), (viewer.user.username, sort)
        assert {p["total"] for p in pages} == {len(visible)}
        # one page of everything answers the same order
        whole = await page(client, viewer, sort=sort, limit=100)
        assert [item["id"] for item in whole["items"]] == ids
        assert whole["next_cursor"] is None


@pytest.mark.parametrize("sort", SORTS)
async def test_filters_walk_by_cursor_too(client, alice, catalogue, sort):
    own = [i for i in catalogue if i["owner_id"] == alice.id]
    ids, _ = await walk(client, alice, sort=sort, owner_only=True)
    assert ids == expected(own, sort)
    tagged = [i for i in catalogue if "bob" in i["tags"] and i["is_public"]]
    ids, pages = await walk(client, alice, sort=sort, tag="BOB", limit=2)
    assert ids == expected(tagged, sort)
    assert pages[0]["total"] == len(tagged)
    titled = [i for i in catalogue if "t0" in i["title"] and (i["is_public"] or i in own)]
    ids, _ = await walk(client, alice, sort=sort, search="T0", limit=4)
    assert ids == expected(titled, sort)


@pytest.mark.parametrize("sort", ["-created_at", "title", "created_at"])
async def test_items_created_or_deleted_meanwhile_never_repeat_or_skip_a_row(
    client, alice, create_item, catalogue, sort
):
    mine = [i for i in catalogue if i["owner_id"] == alice.id]
    first = await page(client, alice, sort=sort, limit=4, owner_only=True)
    seen = [item["id"] for item in first["items"]]
    # meanwhile: one seen and one unseen item deleted, new ones created (some land before the
    # cursor's position, some after it)
    unseen = [i["id"] for i in mine if i["id"] not in seen]
    deleted = {seen[1], unseen[-1]}
    for item_id in deleted:
        assert (await client.delete(f"/items/{item_id}", headers=alice.headers)).status_code == 204
    created = {(await create_item(alice, title))["id"] for title in ("a0", "t01", "zz")}

    cursor = first["next_cursor"]
    while cursor is not None:
        following = await page(client, alice, sort=sort, limit=4, owner_only=True, cursor=cursor)
        seen += [item["id"] for item in following["items"]]
        cursor = following["next_cursor"]

    assert len(seen) == len(set(seen))  # nothing twice
    survivors = {i["id"] for i in mine} - deleted
    assert survivors <= set(seen)  # every row there all along, exactly once
    assert set(seen) <= survivors | created | {seen[1]}


async def test_next_cursor_follows_an_offset_page_too(client, alice, catalogue):
    everything = [item["id"] for item in (await page(client, alice, limit=100))["items"]]
    offset = await page(client, alice, skip=2, limit=3)
    assert [item["id"] for item in offset["items"]] == everything[2:5]
    assert offset["next_cursor"] is not None
    after = await page(client, alice, limit=3, cursor=offset["next_cursor"])
    assert [item["id"] for item in after["items"]] == everything[5:8]
    last = await page(client, alice, skip=len(everything) - 2, limit=3)
    assert (len(last["items"]), last["next_cursor"]) == (2, None)
    exact = await page(client, alice, skip=len(everything) - 3, limit=3)
    assert (len(exact["items"]), exact["next_cursor"]) == (3, None)


async def test_an_empty_list_has_no_next_cursor(client, alice):
    body = await page(client, alice)
    assert body == {"items": [], "total": 0, "skip": 0, "limit": 10, "next_cursor": None}


async def test_a_cursor_with_skip_is_422(client, alice, catalogue):
    cursor = (await page(client, alice, limit=2))["next_cursor"]
    response = await client.get(
        "/items", params={"cursor": cursor, "skip": 1}, headers=alice.headers
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "skip"]
    ok = await client.get("/items", params={"cursor": cursor, "skip": 0}, headers=alice.headers)
    assert ok.status_code == 200


def _altered(cursor):
    payload, mac = cursor.split(".")
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    forged = base64.urlsafe_b64encode(decoded.replace(b"2", b"3", 1)).rstrip(b"=").decode()
    flipped = ("A" if mac[0] != "A" else "B") + mac[1:]
    return [
        f"{forged}.{mac}",  # another position, the old MAC
        f"{payload}.{flipped}",
        payload,
        f"{payload}.",
        ".",
        "garbage",
        "not base64 !!.???",
        "é" + cursor,
        cursor + "x",
        "x" * 1024,
    ]


async def test_a_tampered_cursor_is_400(client, alice, catalogue):
    cursor = (await page(client, alice, limit=2))["next_cursor"]
    for bad in _altered(cursor):
        response = await client.get("/items", params={"cursor": bad}, headers=alice.headers)
        assert response.status_code == 400, bad
        assert response.json() == {"detail": "INVALID_CURSOR"}
    too_long = await client.get("/items", params={"cursor": "x" * 1025}, headers=alice.headers)
    assert too_long.status_code == 422


@pytest.mark.parametrize(
    ("made_with", "used_with"),
    [
        ({}, {"sort": "created_at"}),
        ({"sort": "title"}, {"sort": "-title"}),
        ({}, {"owner_only": True}),
        ({}, {"search": "t"}),
        ({"search": "t"}, {"search": "u"}),
        ({}, {"tag": "bob"}),
        ({"tag": "bob"}, {"tag": "bulk"}),
    ],
)
async def test_a_cursor_made_for_other_filters_or_sort_is_400(
    client, alice, catalogue, made_with, used_with
):
    cursor = (await page(client, alice, limit=1, **made_with))["next_cursor"]
    assert cursor is not None
    response = await client.get(
        "/items", params={"cursor": cursor, **used_with}, headers=alice.headers
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "INVALID_CURSOR"}
    # the same filters, written differently, are the same list
    same = {**made_with, "tag": made_with["tag"].upper()} if "tag" in made_with else made_with
    assert (
        await client.get("/items", params={"cursor": cursor, **same}, headers=alice.headers)
    ).status_code == 200


async def test_a_cursor_belongs_to_its_caller(client, alice, bob, catalogue):
    cursor = (await page(client, alice, limit=1))["next_cursor"]
    response = await client.get("/items", params={"cursor": cursor}, headers=bob.headers)
    assert response.status_code == 400
    assert response.json() == {"detail": "INVALID_CURSOR"}


@pytest.mark.parametrize("sort", ["sideways", "-", "created", "id", "-owner_id"])
async def test_an_unknown_sort_is_422(client, alice, sort):
    response = await client.get("/items", params={"sort": sort}, headers=alice.headers)
    assert response.status_code == 422


@pytest.mark.parametrize(
    "params",
    [{}, {"owner_only": True}, {"tag": "bob"}, {"search": "t0"}, {"sort": "title"}],
)
async def test_include_total_false_skips_the_count(
    client, alice, catalogue, count_statements, params
):
    with count_statements() as counted:
        with_total = await page(client, alice, **params)
    with count_statements() as uncounted:
        without = await page(client, alice, include_total=False, **params)
    assert with_total["total"] is not None
    assert without["total"] is None
    assert without["items"] == with_total["items"]
    assert without["next_cursor"] == with_total["next_cursor"]
    assert uncounted.count == counted.count - 1
    assert not any("count(" in s.lower() or "item_totals" in s for s in uncounted.statements)

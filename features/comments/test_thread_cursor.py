"""GET /items/{item_id}/comments by cursor: top-level comments oldest first, each page with its
whole subtrees, `next_cursor`, cursors bound to their thread, `include_total`."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from core.db import session_factory
from features.comments.models import Comment


async def thread(client, account, item_id, **params):
    response = await client.get(
        f"/items/{item_id}/comments", params=params, headers=account.headers
    )
    assert response.status_code == 200, response.text
    return response.json()


async def walk(client, account, item_id, limit):
    pages = [await thread(client, account, item_id, limit=limit)]
    while pages[-1]["next_cursor"] is not None:
        cursor = pages[-1]["next_cursor"]
        pages.append(await thread(client, account, item_id, limit=limit, cursor=cursor))
        assert len(pages) < 50
    return pages


@pytest.fixture
async def item_id(create_item, alice):
    return (await create_item(alice, is_public=True))["id"]


async def test_the_thread_walks_by_cursor_with_whole_subtrees(client, alice, bob, comment, item_id):
    roots = [(await comment(alice if n % 2 else bob, item_id, f"root {n}"))["id"] for n in range(7)]
    replies = {root: (await comment(bob, item_id, "reply", parent_id=root))["id"] for root in roots}

    pages = await walk(client, alice, item_id, limit=3)

    assert [len(p["items"]) for p in pages] == [3, 3, 1]
    assert [c["id"] for p in pages for c in p["items"]] == roots
    assert all(p["total"] == 7 for p in pages)
    for p in pages:
        for root in p["items"]:
            assert [r["id"] for r in root["replies"]] == [replies[root["id"]]]
    assert pages[-1]["next_cursor"] is None
    exact = await walk(client, alice, item_id, limit=7)
    assert len(exact) == 1


async def test_ties_and_timestamps_written_in_any_format_page_exactly(
    client, alice, comment, item_id
):
    # rows written by the driver (microseconds, on SQLite a longer text), several at one
    # instant, around rows the database timestamped itself
    moment = datetime.now(UTC) - timedelta(seconds=5)
    rows = [
        {
            "id": uuid.uuid4(),
            "item_id": uuid.UUID(item_id),
            "author_id": alice.user.id,
            "content": f"inserted {n}",
            "created_at": moment + timedelta(milliseconds=n // 3),
        }
        for n in range(9)
    ]
    async with session_factory() as session:
        await session.execute(insert(Comment), rows)
        await session.commit()
    later = [(await comment(alice, item_id, f"later {n}"))["id"] for n in range(3)]
    ordered = [str(r["id"]) for r in sorted(rows, key=lambda r: (r["created_at"], str(r["id"])))]

    for limit in (1, 2, 4):
        pages = await walk(client, alice, item_id, limit=limit)
        assert [c["id"] for p in pages for c in p["items"]] == ordered + later, limit


async def test_comments_added_meanwhile_never_repeat_or_skip_one(client, alice, comment, item_id):
    first = [(await comment(alice, item_id, f"c{n}"))["id"] for n in range(4)]
    page = await thread(client, alice, item_id, limit=2)
    await client.delete(f"/comments/{first[3]}", headers=alice.headers)
    added = (await comment(alice, item_id, "new"))["id"]
    rest = await thread(client, alice, item_id, limit=10, cursor=page["next_cursor"])
    seen = [c["id"] for c in page["items"] + rest["items"]]
    assert seen == [*first[:3], added]


async def test_a_cursor_belongs_to_its_thread(client, alice, comment, create_item, item_id):
    other = (await create_item(alice))["id"]
    for target in (item_id, other):
        for n in range(2):
            await comment(alice, target, f"c{n}")
    cursor = (await thread(client, alice, item_id, limit=1))["next_cursor"]
    response = await client.get(
        f"/items/{other}/comments", params={"cursor": cursor}, headers=alice.headers
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "INVALID_CURSOR"}
    for bad in (cursor[:-3] + "abc", "garbage", cursor.replace(".", "")):
        response = await client.get(
            f"/items/{item_id}/comments", params={"cursor": bad}, headers=alice.headers
        )
        assert response.status_code == 400, bad
    with_skip = await client.get(
        f"/items/{item_id}/comments", params={"cursor": cursor, "skip": 1}, headers=alice.headers
    )
    assert with_skip.status_code == 422


async def test_a_cursor_does_not_open_a_hidden_thread(client, alice, bob, comment, create_item):
    hidden = (await create_item(alice))["id"]
    await comment(alice, hidden)
    await comment(alice, hidden)
    cursor = (await thread(client, alice, hidden, limit=1))["next_cursor"]
    response = await client.get(
        f"/items/{hidden}/comments", params={"cursor": cursor}, headers=bob.headers
    )
    assert response.status_code == 404


async def test_include_total_false_skips_the_count(
    client, alice, comment, item_id, count_statements
):
    for n in range(3):
        await comment(alice, item_id, f"c{n}")
    with count_statements() as counted:
        with_total = await thread(client, alice, item_id, limit=2)
    with count_statements() as uncounted:
        without = await thread(client, alice, item_id, limit=2, include_total=False)
    assert (with_total["total"], without["total"]) == (3, None)
    assert without["items"] == with_total["items"]
    assert without["next_cursor"] == with_total["next_cursor"] is not None
    assert uncounted.count == counted.count - 1
    assert not any("count(" in s.lower() for s in uncounted.statements)


async def test_a_cursor_page_costs_what_the_first_does(
    client, alice, comment, item_id, count_statements
):
    for n in range(5):
        await comment(alice, item_id, f"c{n}")
    with count_statements() as first:
        page = await thread(client, alice, item_id, limit=2)
    with count_statements() as next_one:
        await thread(client, alice, item_id, limit=2, cursor=page["next_cursor"])
    assert first.count == next_one.count

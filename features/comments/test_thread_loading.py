"""Whole threads in a fixed number of statements, whatever their depth and width."""

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from core.db import session_factory
from features.comments.models import MAX_DEPTH, Comment

BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)


async def insert_comments(rows):
    """Insert comment rows straight into the database (parents before children)."""
    async with session_factory() as session:
        await session.execute(insert(Comment), rows)
        await session.commit()


def row(item_id, author, index, parent_id=None):
    # explicit timestamps: a deterministic order, a millisecond apart
    return {
        "id": uuid.uuid4(),
        "item_id": item_id,
        "author_id": author.user.id,
        "parent_id": parent_id,
        "content": f"comment {index}",
        "created_at": BASE_TIME + timedelta(milliseconds=index),
    }


async def make_chain(item_id, author, depth):
    """One top-level comment and `depth` replies, each under the previous one."""
    rows = [row(item_id, author, 0)]
    for index in range(1, depth + 1):
        rows.append(row(item_id, author, index, parent_id=rows[-1]["id"]))
    await insert_comments(rows)
    return rows


async def make_wide(item_id, author, count, roots):
    """`count` comments: `roots` top-level ones and replies spread under earlier comments."""
    rows = [row(item_id, author, index) for index in range(roots)]
    for index in range(roots, count):
        rows.append(row(item_id, author, index, parent_id=rows[(index * 7) % index]["id"]))
    await insert_comments(rows)
    return rows


def count_nodes(comments):
    total, stack = 0, list(comments)
    while stack:
        node = stack.pop()
        total += 1
        stack.extend(node["replies"])
    return total


async def measure(client, count_statements, account, item_id, **params):
    with count_statements() as counter:
        response = await client.get(
            f"/items/{item_id}/comments", params=params, headers=account.headers
        )
    assert response.status_code == 200, response.text
    return counter.count, response.json()


async def test_statements_do_not_grow_with_thread_size(
    client, create_item, alice, count_statements
):
    small_item = uuid.UUID((await create_item(alice))["id"])
    big_item = uuid.UUID((await create_item(alice))["id"])
    await make_wide(small_item, alice, 3, roots=1)
    await make_wide(big_item, alice, 500, roots=20)

    small, small_page = await measure(client, count_statements, alice, small_item)
    big, big_page = await measure(client, count_statements, alice, big_item, limit=100)
    print(f"statements: 3 comments {small}, 500 comments {big}")
    assert count_nodes(small_page["items"]) == 3
    assert count_nodes(big_page["items"]) == 500
    assert big_page["total"] == 20
    assert small == big


async def test_statements_do_not_grow_with_depth(client, create_item, alice, count_statements):
    shallow_item = uuid.UUID((await create_item(alice))["id"])
    deep_item = uuid.UUID((await create_item(alice))["id"])
    await make_chain(shallow_item, alice, 1)
    await make_chain(deep_item, alice, 50)

    shallow, _ = await measure(client, count_statements, alice, shallow_item)
    deep, page = await measure(client, count_statements, alice, deep_item)
    print(f"statements: depth 1 {shallow}, depth 50 {deep}")
    assert shallow == deep
    assert count_nodes(page["items"]) == 51


async def test_deep_thread_nests_in_order(client, create_item, alice):
    item_id = uuid.UUID((await create_item(alice))["id"])
    rows = await make_chain(item_id, alice, 60)
    response = await client.get(f"/items/{item_id}/comments", headers=alice.headers)
    assert response.status_code == 200, response.text
    node = response.json()["items"][0]
    for expected in rows:
        assert node["id"] == str(expected["id"])
        assert node["content"] == expected["content"]
        replies = node["replies"]
        node = replies[0] if replies else None
    assert node is None


async def test_deepest_allowed_thread_serializes(client, create_item, alice):
    item_id = uuid.UUID((await create_item(alice))["id"])
    rows = await make_chain(item_id, alice, MAX_DEPTH)
    page = (await client.get(f"/items/{item_id}/comments", headers=alice.headers)).json()
    assert count_nodes(page["items"]) == MAX_DEPTH + 1

    # a reply one level deeper is refused, a sibling at the deepest level is not
    deepest, above = rows[-1]["id"], rows[-2]["id"]
    for parent_id, status in ((deepest, 400), (above, 201)):
        response = await client.post(
            f"/items/{item_id}/comments",
            json={"content": "hi", "parent_id": str(parent_id)},
            headers=alice.headers,
        )
        assert response.status_code == status, response.text


async def test_wide_thread_keeps_order_at_every_level(client, create_item, alice):
    item_id = uuid.UUID((await create_item(alice))["id"])
    rows = await make_wide(item_id, alice, 500, roots=30)
    page = (await client.get(f"/items/{item_id}/comments?limit=100", headers=alice.headers)).json()
    assert page["total"] == 30
    assert [c["id"] for c in page["items"]] == [str(r["id"]) for r in rows[:30]]

    expected_children = {}
    for r in rows:
        expected_children.setdefault(r["parent_id"], []).append(str(r["id"]))
    ids = {str(r["id"]): r["id"] for r in rows}
    stack = list(page["items"])
    while stack:
        node = stack.pop()
        assert [c["id"] for c in node["replies"]] == expected_children.get(ids[node["id"]], [])
        stack.extend(node["replies"])


async def test_a_page_holds_only_its_own_subtrees(client, create_item, alice):
    item_id = uuid.UUID((await create_item(alice))["id"])
    rows = await make_wide(item_id, alice, 200, roots=10)
    pages = [
        (
            await client.get(
                f"/items/{item_id}/comments",
                params={"skip": skip, "limit": 3},
                headers=alice.headers,
            )
        ).json()
        for skip in (0, 3, 6, 9)
    ]
    assert [len(p["items"]) for p in pages] == [3, 3, 3, 1]
    assert sum(count_nodes(p["items"]) for p in pages) == len(rows)


async def test_delete_in_a_deep_chain_takes_fixed_statements(
    client, create_item, alice, count_statements
):
    counts = []
    for depth in (2, 50):
        item_id = uuid.UUID((await create_item(alice))["id"])
        rows = await make_chain(item_id, alice, depth)
        with count_statements() as counter:
            response = await client.delete(f"/comments/{rows[-1]['id']}", headers=alice.headers)
        assert response.status_code == 204
        counts.append(counter.count)
    assert counts[0] == counts[1]

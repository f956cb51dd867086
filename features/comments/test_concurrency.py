"""Racing writes keep the tombstone invariant: no reply is lost, no empty tombstone is left."""

import asyncio

import pytest

# concurrent requests need connections (and commits) of their own
pytestmark = pytest.mark.commits


async def test_siblings_deleted_at_once_take_their_tombstone(
    client, create_item, comment, alice, db_scalar
):
    item_id = (await create_item(alice))["id"]
    root = (await comment(alice, item_id))["id"]
    middle = (await comment(alice, item_id, parent_id=root))["id"]
    leaves = [(await comment(alice, item_id, parent_id=middle))["id"] for _ in range(8)]
    for tombstone in (root, middle):
        response = await client.delete(f"/comments/{tombstone}", headers=alice.headers)
        assert response.status_code == 204

    responses = await asyncio.gather(
        *(client.delete(f"/comments/{leaf}", headers=alice.headers) for leaf in leaves)
    )
    assert [r.status_code for r in responses] == [204] * len(leaves)
    assert await db_scalar("SELECT count(*) FROM comments") == 0


async def test_reply_racing_the_parents_deletion_is_never_lost(
    client, create_item, comment, alice, db_scalar
):
    item_id = (await create_item(alice))["id"]
    for _ in range(5):
        parent = (await comment(alice, item_id))["id"]
        deleted, replied = await asyncio.gather(
            client.delete(f"/comments/{parent}", headers=alice.headers),
            client.post(
                f"/items/{item_id}/comments",
                json={"content": "reply", "parent_id": parent},
                headers=alice.headers,
            ),
        )
        assert deleted.status_code == 204, deleted.text
        assert replied.status_code in (201, 400), replied.text
        if replied.status_code == 201:
            # the reply got in first: the parent stays, as a tombstone over it
            reply_id = replied.json()["id"]
            thread = await client.get(f"/items/{item_id}/comments", headers=alice.headers)
            [tombstone] = thread.json()["items"]
            assert (tombstone["id"], tombstone["is_deleted"]) == (parent, True)
            assert [reply["id"] for reply in tombstone["replies"]] == [reply_id]
            await client.delete(f"/comments/{reply_id}", headers=alice.headers)
        assert await db_scalar("SELECT count(*) FROM comments") == 0

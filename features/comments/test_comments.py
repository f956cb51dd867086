"""The comments contract: create, read nested, edit, delete, permissions and tombstones."""

import uuid

import pytest

from features.comments.models import CONTENT_MAX


async def thread(client, account, item_id, **params):
    response = await client.get(
        f"/items/{item_id}/comments", params=params, headers=account.headers
    )
    assert response.status_code == 200, response.text
    return response.json()


# -- create --


async def test_create_answers_comment_read(create_item, comment, alice):
    item_id = (await create_item(alice))["id"]
    body = await comment(alice, item_id, content="  first!  ")
    assert set(body) == {
        "id",
        "item_id",
        "parent_id",
        "content",
        "author",
        "is_deleted",
        "created_at",
        "updated_at",
        "replies",
    }
    assert body["content"] == "first!"
    assert body["item_id"] == item_id
    assert body["parent_id"] is None
    assert body["author"] == {"id": alice.id, "username": "alice", "full_name": "Alice Liddell"}
    assert body["is_deleted"] is False
    assert body["replies"] == []
    assert body["created_at"].endswith(("+00:00", "Z"))


async def test_reply_to_a_comment_of_the_same_item(create_item, comment, alice, bob):
    item_id = (await create_item(alice, is_public=True))["id"]
    root = await comment(alice, item_id)
    reply = await comment(bob, item_id, "me too", parent_id=root["id"])
    assert reply["parent_id"] == root["id"]
    assert reply["author"]["username"] == "bob"


@pytest.mark.parametrize(
    "content",
    ["", "   ", "\n\t ", "x" * (CONTENT_MAX + 1), "nul\x00byte", None, 5],
)
async def test_bad_content_is_422(client, create_item, alice, content):
    item_id = (await create_item(alice))["id"]
    response = await client.post(
        f"/items/{item_id}/comments", json={"content": content}, headers=alice.headers
    )
    assert response.status_code == 422, response.text


async def test_content_limits(create_item, comment, alice):
    item_id = (await create_item(alice))["id"]
    body = await comment(alice, item_id, content=" " + "é" * CONTENT_MAX + " ")
    assert len(body["content"]) == CONTENT_MAX
    body = await comment(alice, item_id, content="x")
    assert body["content"] == "x"


async def test_lone_surrogate_is_422(client, create_item, alice):
    item_id = (await create_item(alice))["id"]
    response = await client.post(
        f"/items/{item_id}/comments",
        content=b'{"content": "\\ud800"}',
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text


async def test_parent_of_another_item_or_unknown_is_400(client, create_item, comment, alice):
    item_id = (await create_item(alice))["id"]
    other_item_id = (await create_item(alice))["id"]
    other = await comment(alice, other_item_id)
    for parent_id in (other["id"], str(uuid.uuid4())):
        response = await client.post(
            f"/items/{item_id}/comments",
            json={"content": "hi", "parent_id": parent_id},
            headers=alice.headers,
        )
        assert response.status_code == 400, response.text
    response = await client.post(
        f"/items/{item_id}/comments",
        json={"content": "hi", "parent_id": "not-a-uuid"},
        headers=alice.headers,
    )
    assert response.status_code == 422


async def test_comment_on_invisible_or_unknown_item_is_404(client, create_item, alice, bob):
    private = (await create_item(alice))["id"]
    for item_id in (private, str(uuid.uuid4())):
        response = await client.post(
            f"/items/{item_id}/comments", json={"content": "hi"}, headers=bob.headers
        )
        assert response.status_code == 404, response.text
        response = await client.get(f"/items/{item_id}/comments", headers=bob.headers)
        assert response.status_code == 404, response.text


async def test_malformed_ids_are_422(client, alice):
    assert (await client.get("/items/nope/comments", headers=alice.headers)).status_code == 422
    response = await client.patch("/comments/nope", json={"content": "x"}, headers=alice.headers)
    assert response.status_code == 422
    assert (await client.delete("/comments/nope", headers=alice.headers)).status_code == 422


async def test_routes_need_a_token(client, create_item, comment, alice):
    item_id = (await create_item(alice, is_public=True))["id"]
    root = await comment(alice, item_id)
    for method, url in [
        ("GET", f"/items/{item_id}/comments"),
        ("POST", f"/items/{item_id}/comments"),
        ("PATCH", f"/comments/{root['id']}"),
        ("DELETE", f"/comments/{root['id']}"),
    ]:
        response = await client.request(method, url, json={"content": "x"})
        assert response.status_code == 401, (method, url)
        assert response.headers["WWW-Authenticate"] == "Bearer"


# -- read --


async def test_thread_nests_replies_oldest_first(client, create_item, comment, alice, bob):
    item_id = (await create_item(alice, is_public=True))["id"]
    first = await comment(alice, item_id, "first")
    second = await comment(bob, item_id, "second")
    a = await comment(bob, item_id, "a", parent_id=first["id"])
    b = await comment(alice, item_id, "b", parent_id=first["id"])
    a1 = await comment(alice, item_id, "a1", parent_id=a["id"])
    a1x = await comment(bob, item_id, "a1x", parent_id=a1["id"])

    page = await thread(client, bob, item_id)
    assert (page["total"], page["skip"], page["limit"]) == (2, 0, 20)
    assert [c["content"] for c in page["items"]] == ["first", "second"]
    top = page["items"][0]
    assert [r["content"] for r in top["replies"]] == ["a", "b"]
    assert top["replies"][0]["replies"][0]["id"] == a1["id"]
    assert top["replies"][0]["replies"][0]["replies"][0]["id"] == a1x["id"]
    assert top["replies"][0]["replies"][0]["replies"][0]["author"]["username"] == "bob"
    assert top["replies"][1]["id"] == b["id"]
    assert top["replies"][1]["replies"] == []
    assert page["items"][1]["id"] == second["id"]
    assert page["items"][1]["replies"] == []


async def test_pagination_counts_top_level_comments(client, create_item, comment, alice):
    item_id = (await create_item(alice))["id"]
    roots = [await comment(alice, item_id, f"c{i}") for i in range(5)]
    await comment(alice, item_id, "reply", parent_id=roots[3]["id"])
    page = await thread(client, alice, item_id, skip=2, limit=2)
    assert page["total"] == 5
    assert (page["skip"], page["limit"]) == (2, 2)
    assert [c["content"] for c in page["items"]] == ["c2", "c3"]
    assert [r["content"] for r in page["items"][1]["replies"]] == ["reply"]
    assert (await thread(client, alice, item_id, skip=10))["items"] == []
    # another item's comments never show
    other = (await create_item(alice))["id"]
    assert (await thread(client, alice, other))["total"] == 0


@pytest.mark.parametrize("params", [{"skip": -1}, {"limit": 0}, {"limit": 101}, {"skip": "x"}])
async def test_bad_paging_is_422(client, create_item, alice, params):
    item_id = (await create_item(alice))["id"]
    response = await client.get(f"/items/{item_id}/comments", params=params, headers=alice.headers)
    assert response.status_code == 422


async def test_private_thread_is_invisible_to_others_visible_to_superuser(
    client, create_item, comment, alice, bob, admin
):
    item_id = (await create_item(alice))["id"]
    root = await comment(alice, item_id, "secret")
    assert (await client.get(f"/items/{item_id}/comments", headers=bob.headers)).status_code == 404
    page = await thread(client, admin, item_id)
    assert [c["id"] for c in page["items"]] == [root["id"]]
    # and a superuser may join in
    await comment(admin, item_id, "noted", parent_id=root["id"])


# -- edit --


async def test_author_edits_and_updated_at_advances(client, create_item, comment, alice, bob):
    item_id = (await create_item(alice, is_public=True))["id"]
    root = await comment(alice, item_id, "tpyo")
    reply = await comment(bob, item_id, "a typo", parent_id=root["id"])
    response = await client.patch(
        f"/comments/{root['id']}", json={"content": "  typo  "}, headers=alice.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["content"] == "typo"
    assert body["created_at"] == root["created_at"]
    assert body["updated_at"] > root["updated_at"]
    assert [r["id"] for r in body["replies"]] == [reply["id"]]
    assert (await thread(client, bob, item_id))["items"][0]["content"] == "typo"


async def test_edit_validates_content(client, create_item, comment, alice):
    item_id = (await create_item(alice))["id"]
    root = await comment(alice, item_id)
    for body in ({"content": "   "}, {}, {"content": "a\x00"}):
        response = await client.patch(f"/comments/{root['id']}", json=body, headers=alice.headers)
        assert response.status_code == 422


async def test_edit_permissions(client, create_item, comment, make_account, alice, bob, admin):
    carol = await make_account("carol")
    public = (await create_item(alice, is_public=True))["id"]
    private = (await create_item(alice))["id"]
    on_public = await comment(bob, public, "bob's words")
    on_private = await comment(alice, private, "alice's words")

    async def edit(account, comment_id):
        response = await client.patch(
            f"/comments/{comment_id}", json={"content": "changed"}, headers=account.headers
        )
        return response.status_code

    # the item's owner, a superuser and a bystander who can see the item: 403
    assert await edit(alice, on_public["id"]) == 403
    assert await edit(admin, on_public["id"]) == 403
    assert await edit(carol, on_public["id"]) == 403
    assert await edit(admin, on_private["id"]) == 403
    # the item is not visible: 404; unknown: 404
    assert await edit(bob, on_private["id"]) == 404
    assert await edit(bob, str(uuid.uuid4())) == 404
    # the author
    assert await edit(bob, on_public["id"]) == 200
    assert await edit(alice, on_private["id"]) == 200


# -- delete --


async def delete(client, account, comment_id):
    return (await client.delete(f"/comments/{comment_id}", headers=account.headers)).status_code


async def test_delete_permissions(client, create_item, comment, make_account, alice, bob, admin):
    carol = await make_account("carol")
    public = (await create_item(alice, is_public=True))["id"]
    private = (await create_item(alice))["id"]
    by_carol = [await comment(carol, public, f"c{i}") for i in range(4)]
    on_private = await comment(alice, private)

    assert await delete(client, bob, by_carol[0]["id"]) == 403  # sees the item, no right
    assert await delete(client, bob, on_private["id"]) == 404  # does not see the item
    assert await delete(client, bob, str(uuid.uuid4())) == 404
    assert await delete(client, carol, by_carol[0]["id"]) == 204  # author
    assert await delete(client, alice, by_carol[1]["id"]) == 204  # item owner
    assert await delete(client, admin, by_carol[2]["id"]) == 204  # superuser
    assert await delete(client, admin, on_private["id"]) == 204
    assert await delete(client, carol, by_carol[0]["id"]) == 404  # gone
    page = await thread(client, alice, public)
    assert [c["id"] for c in page["items"]] == [by_carol[3]["id"]]


async def test_leaf_is_removed(client, create_item, comment, alice, db_scalar):
    item_id = (await create_item(alice))["id"]
    root = await comment(alice, item_id)
    assert await delete(client, alice, root["id"]) == 204
    assert await db_scalar("SELECT count(*) FROM comments") == 0


async def test_comment_with_replies_becomes_a_tombstone(client, create_item, comment, alice, bob):
    item_id = (await create_item(alice, is_public=True))["id"]
    root = await comment(bob, item_id, "controversial")
    reply = await comment(alice, item_id, "indeed", parent_id=root["id"])
    later = await comment(alice, item_id, "later")
    assert await delete(client, bob, root["id"]) == 204

    page = await thread(client, alice, item_id)
    assert page["total"] == 2
    tombstone = page["items"][0]
    assert tombstone["id"] == root["id"]  # keeps its place
    assert tombstone["is_deleted"] is True
    assert tombstone["content"] == ""
    assert tombstone["author"] is None
    assert tombstone["created_at"] == root["created_at"]
    assert [r["id"] for r in tombstone["replies"]] == [reply["id"]]
    assert page["items"][1]["id"] == later["id"]

    # a tombstone cannot be edited, deleted again or replied to
    response = await client.patch(
        f"/comments/{root['id']}", json={"content": "back"}, headers=bob.headers
    )
    assert response.status_code == 404
    assert await delete(client, bob, root["id"]) == 404
    response = await client.post(
        f"/items/{item_id}/comments",
        json={"content": "hi", "parent_id": root["id"]},
        headers=alice.headers,
    )
    assert response.status_code == 400


async def test_last_reply_going_removes_the_tombstone_chain(
    client, create_item, comment, alice, bob, db_scalar
):
    item_id = (await create_item(alice, is_public=True))["id"]
    keep = await comment(alice, item_id, "unrelated")
    a = await comment(alice, item_id, "a")
    b = await comment(bob, item_id, "b", parent_id=a["id"])
    c = await comment(alice, item_id, "c", parent_id=b["id"])
    d = await comment(bob, item_id, "d", parent_id=c["id"])
    sibling = await comment(bob, item_id, "sibling of c", parent_id=b["id"])
    # a, b and c become tombstones: each has replies
    for account, node in ((alice, a), (bob, b), (alice, c)):
        assert await delete(client, account, node["id"]) == 204
    assert await db_scalar("SELECT count(*) FROM comments WHERE is_deleted") == 3

    # d goes, and c (a tombstone with no other reply) with it; b still has a live reply
    assert await delete(client, bob, d["id"]) == 204
    page = await thread(client, alice, item_id)
    top = page["items"][1]
    assert top["id"] == a["id"]
    assert [r["id"] for r in top["replies"]] == [b["id"]]
    assert [r["id"] for r in top["replies"][0]["replies"]] == [sibling["id"]]

    # the last live comment under a goes: a and b go too
    assert await delete(client, bob, sibling["id"]) == 204
    page = await thread(client, alice, item_id)
    assert page["total"] == 1
    assert [c["id"] for c in page["items"]] == [keep["id"]]
    assert await db_scalar("SELECT count(*) FROM comments") == 1


async def test_tombstone_with_two_live_branches_stays_until_both_go(
    client, create_item, comment, alice, db_scalar
):
    item_id = (await create_item(alice))["id"]
    root = await comment(alice, item_id)
    left = await comment(alice, item_id, "left", parent_id=root["id"])
    right = await comment(alice, item_id, "right", parent_id=root["id"])
    assert await delete(client, alice, root["id"]) == 204
    assert await delete(client, alice, left["id"]) == 204
    page = await thread(client, alice, item_id)
    assert page["items"][0]["is_deleted"] is True
    assert [r["id"] for r in page["items"][0]["replies"]] == [right["id"]]
    assert await delete(client, alice, right["id"]) == 204
    assert (await thread(client, alice, item_id))["total"] == 0
    assert await db_scalar("SELECT count(*) FROM comments") == 0


async def test_deleting_the_item_deletes_its_comments(
    client, create_item, comment, alice, bob, db_scalar
):
    item_id = (await create_item(alice, is_public=True))["id"]
    root = await comment(bob, item_id)
    await comment(alice, item_id, parent_id=root["id"])
    other = (await create_item(alice))["id"]
    await comment(alice, other)
    response = await client.delete(f"/items/{item_id}", headers=alice.headers)
    assert response.status_code == 204
    assert await db_scalar("SELECT count(*) FROM comments") == 1

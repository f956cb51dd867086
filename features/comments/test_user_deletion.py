"""Deleting a user: their items go with those items' comments; their comments go, except those
with replies from others, which stay as tombstones so that no thread is torn."""


async def make_item(client, account, *, is_public=True):
    response = await client.post(
        "/items", json={"title": "a thing", "is_public": is_public}, headers=account.headers
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def comment(client, account, item_id, content, parent_id=None):
    response = await client.post(
        f"/items/{item_id}/comments",
        json={"content": content, "parent_id": parent_id},
        headers=account.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def delete_user(client, admin, account):
    response = await client.delete(f"/users/{account.id}", headers=admin.headers)
    assert response.status_code == 204, response.text


async def shape(client, account, item_id):
    """The thread as nested (content, author, [replies]) tuples."""
    response = await client.get(
        f"/items/{item_id}/comments", params={"limit": 100}, headers=account.headers
    )
    assert response.status_code == 200, response.text

    def walk(node):
        author = node["author"]["username"] if node["author"] else None
        return (node["content"], author, [walk(reply) for reply in node["replies"]])

    return [walk(node) for node in response.json()["items"]]


async def test_comments_go_or_stay_as_tombstones(client, make_account, admin, db_scalar):
    xavier = await make_account("xavier")
    yvonne = await make_account("yvonne")
    zoe = await make_account("zoe")
    item = await make_item(client, zoe)

    # a leaf of xavier's: removed
    await comment(client, xavier, item, "leaf")
    # replied to by yvonne: a tombstone over yvonne's reply
    answered = await comment(client, xavier, item, "answered")
    await comment(client, yvonne, item, "reply", parent_id=answered)
    # replied to by xavier only: the whole chain goes
    own = await comment(client, xavier, item, "own")
    own_reply = await comment(client, xavier, item, "own reply", parent_id=own)
    await comment(client, xavier, item, "own reply 2", parent_id=own_reply)
    # xavier → xavier → yvonne: both of xavier's stay as tombstones
    deep = await comment(client, xavier, item, "deep")
    deep_reply = await comment(client, xavier, item, "deep reply", parent_id=deep)
    await comment(client, yvonne, item, "deep answer", parent_id=deep_reply)
    # zoe's tombstone whose only live reply is xavier's: the tombstone goes too
    zoes = await comment(client, zoe, item, "zoe's")
    await comment(client, xavier, item, "under zoe's", parent_id=zoes)
    assert (await client.delete(f"/comments/{zoes}", headers=zoe.headers)).status_code == 204
    # zoe's tombstone with a live branch besides xavier's: stays
    zoes2 = await comment(client, zoe, item, "zoe's 2")
    await comment(client, xavier, item, "xavier under zoe's 2", parent_id=zoes2)
    await comment(client, yvonne, item, "yvonne under zoe's 2", parent_id=zoes2)
    assert (await client.delete(f"/comments/{zoes2}", headers=zoe.headers)).status_code == 204
    # untouched: others' comments
    await comment(client, yvonne, item, "yvonne's own")

    await delete_user(client, admin, xavier)

    assert await shape(client, zoe, item) == [
        ("", None, [("reply", "yvonne", [])]),
        ("", None, [("", None, [("deep answer", "yvonne", [])])]),
        ("", None, [("yvonne under zoe's 2", "yvonne", [])]),
        ("yvonne's own", "yvonne", []),
    ]
    assert await db_scalar("SELECT count(*) FROM comments WHERE author_id IS NULL") == 4
    assert (
        await db_scalar("SELECT count(*) FROM comments WHERE author_id IS NULL AND NOT is_deleted")
        == 0
    )


async def test_their_items_go_with_every_comment_on_them(client, make_account, admin, db_scalar):
    xavier = await make_account("xavier")
    yvonne = await make_account("yvonne")
    theirs = await make_item(client, xavier)
    hers = await make_item(client, yvonne)
    root = await comment(client, yvonne, theirs, "on xavier's item")
    await comment(client, xavier, theirs, "answer", parent_id=root)
    kept = await comment(client, yvonne, hers, "on yvonne's item")
    await comment(client, xavier, hers, "xavier's reply", parent_id=kept)

    await delete_user(client, admin, xavier)

    assert await db_scalar("SELECT count(*) FROM items") == 1
    assert await db_scalar("SELECT count(*) FROM comments") == 1
    assert await shape(client, yvonne, hers) == [("on yvonne's item", "yvonne", [])]


async def test_user_without_comments(client, make_account, admin, alice, db_scalar):
    xavier = await make_account("xavier")
    item = await make_item(client, alice)
    await comment(client, alice, item, "hello")
    await delete_user(client, admin, xavier)
    assert await db_scalar("SELECT count(*) FROM comments") == 1


async def test_deleted_authors_token_is_refused_and_others_carry_on(
    client, make_account, admin, alice
):
    xavier = await make_account("xavier")
    item = await make_item(client, alice)
    root = await comment(client, xavier, item, "question")
    reply = await comment(client, alice, item, "answer", parent_id=root)
    await delete_user(client, admin, xavier)

    assert (await client.get(f"/items/{item}/comments", headers=xavier.headers)).status_code == 401
    # the tombstone cannot be edited or deleted; the reply under it can be, and takes it along
    response = await client.delete(f"/comments/{root}", headers=admin.headers)
    assert response.status_code == 404
    assert (await client.delete(f"/comments/{reply}", headers=alice.headers)).status_code == 204
    assert await shape(client, alice, item) == []

"""Deleting a user: their items go with those items' comments; their comments go, except those
with replies from others, which stay as tombstones so that no thread is torn."""


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


async def test_comments_go_or_stay_as_tombstones(
    client, create_item, comment, make_account, admin, db_scalar
):
    xavier = await make_account("xavier")
    yvonne = await make_account("yvonne")
    zoe = await make_account("zoe")
    item = (await create_item(zoe, is_public=True))["id"]

    # a leaf of xavier's: removed
    await comment(xavier, item, "leaf")
    # replied to by yvonne: a tombstone over yvonne's reply
    answered = (await comment(xavier, item, "answered"))["id"]
    await comment(yvonne, item, "reply", parent_id=answered)
    # replied to by xavier only: the whole chain goes
    own = (await comment(xavier, item, "own"))["id"]
    own_reply = (await comment(xavier, item, "own reply", parent_id=own))["id"]
    await comment(xavier, item, "own reply 2", parent_id=own_reply)
    # xavier → xavier → yvonne: both of xavier's stay as tombstones
    deep = (await comment(xavier, item, "deep"))["id"]
    deep_reply = (await comment(xavier, item, "deep reply", parent_id=deep))["id"]
    await comment(yvonne, item, "deep answer", parent_id=deep_reply)
    # zoe's tombstone whose only live reply is xavier's: the tombstone goes too
    zoes = (await comment(zoe, item, "zoe's"))["id"]
    await comment(xavier, item, "under zoe's", parent_id=zoes)
    assert (await client.delete(f"/comments/{zoes}", headers=zoe.headers)).status_code == 204
    # zoe's tombstone with a live branch besides xavier's: stays
    zoes2 = (await comment(zoe, item, "zoe's 2"))["id"]
    await comment(xavier, item, "xavier under zoe's 2", parent_id=zoes2)
    await comment(yvonne, item, "yvonne under zoe's 2", parent_id=zoes2)
    assert (await client.delete(f"/comments/{zoes2}", headers=zoe.headers)).status_code == 204
    # untouched: others' comments
    await comment(yvonne, item, "yvonne's own")

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


async def test_their_items_go_with_every_comment_on_them(
    client, create_item, comment, make_account, admin, db_scalar
):
    xavier = await make_account("xavier")
    yvonne = await make_account("yvonne")
    theirs = (await create_item(xavier, is_public=True))["id"]
    hers = (await create_item(yvonne, is_public=True))["id"]
    root = (await comment(yvonne, theirs, "on xavier's item"))["id"]
    await comment(xavier, theirs, "answer", parent_id=root)
    kept = (await comment(yvonne, hers, "on yvonne's item"))["id"]
    await comment(xavier, hers, "xavier's reply", parent_id=kept)

    await delete_user(client, admin, xavier)

    assert await db_scalar("SELECT count(*) FROM items") == 1
    assert await db_scalar("SELECT count(*) FROM comments") == 1
    assert await shape(client, yvonne, hers) == [("on yvonne's item", "yvonne", [])]


async def test_user_without_comments(
    client, create_item, comment, make_account, admin, alice, db_scalar
):
    xavier = await make_account("xavier")
    item = (await create_item(alice, is_public=True))["id"]
    await comment(alice, item, "hello")
    await delete_user(client, admin, xavier)
    assert await db_scalar("SELECT count(*) FROM comments") == 1


async def test_deleted_authors_token_is_refused_and_others_carry_on(
    client, create_item, comment, make_account, admin, alice
):
    xavier = await make_account("xavier")
    item = (await create_item(alice, is_public=True))["id"]
    root = (await comment(xavier, item, "question"))["id"]
    reply = (await comment(alice, item, "answer", parent_id=root))["id"]
    await delete_user(client, admin, xavier)

    assert (await client.get(f"/items/{item}/comments", headers=xavier.headers)).status_code == 401
    # the tombstone cannot be edited or deleted; the reply under it can be, and takes it along
    response = await client.delete(f"/comments/{root}", headers=admin.headers)
    assert response.status_code == 404
    assert (await client.delete(f"/comments/{reply}", headers=alice.headers)).status_code == 204
    assert await shape(client, alice, item) == []

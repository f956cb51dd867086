"""The maintained item counts stay exact through every write path, so `total` equals a real
count(*) of what each caller may see, and unfiltered lists never count rows."""

import pytest

from conftest import Account


@pytest.fixture
def check_totals(client, db_scalar, db_execute, counts_match_items):
    """`await check_totals(*accounts)`: every caller's `total` (all, owner_only) against a real
    count(*), and the counts tables against the items table."""

    async def check(*accounts: Account) -> None:
        for account in accounts:
            where = "TRUE" if account.user.is_superuser else "(owner_id = :me OR is_public = :yes)"
            me = account.user.id if await _is_postgres(db_execute) else account.user.id.hex
            visible = await db_scalar(
                f"SELECT count(*) FROM items WHERE {where}",  # noqa: S608 - fixed fragments
                me=me,
                yes=True,
            )
            own = await db_scalar("SELECT count(*) FROM items WHERE owner_id = :me", me=me)
            for params, expected in (({}, visible), ({"owner_only": True}, own)):
                response = await client.get(
                    "/items", params={**params, "limit": 1}, headers=account.headers
                )
                assert response.json()["total"] == expected, (account.user.username, params)
        await counts_match_items()

    return check


async def _is_postgres(db_execute):
    return (await db_execute("SELECT 1")).connection.dialect.name == "postgresql"


async def test_counts_follow_every_write_path(
    client, alice, bob, admin, make_account, create_item, check_totals
):
    carol = await make_account("carol")
    everyone = (alice, bob, admin, carol)
    await check_totals(*everyone)

    private = await create_item(alice, "private")
    public = await create_item(alice, "public", is_public=True)
    await create_item(bob, "bob's", is_public=True)
    await check_totals(*everyone)

    bulk = await client.post(
        "/items/bulk",
        json=[{"title": f"b{n}", "is_public": n % 3 == 0} for n in range(7)],
        headers=carol.headers,
    )
    assert bulk.status_code == 201
    await check_totals(*everyone)

    # is_public changes (and a PATCH that leaves it)
    for change in ({"is_public": True}, {"title": "same visibility"}, {"is_public": False}):
        response = await client.patch(f"/items/{private['id']}", json=change, headers=alice.headers)
        assert response.status_code == 200
        await check_totals(*everyone)
    # PUT resets is_public to false
    response = await client.put(
        f"/items/{public['id']}", json={"title": "reset"}, headers=alice.headers
    )
    assert response.json()["is_public"] is False
    await check_totals(*everyone)

    # transfers of a private and of a public item, also by a superuser
    for item_id, actor, target in (
        (private["id"], alice, bob),
        (bulk.json()["items"][0]["id"], carol, alice),
        (private["id"], admin, carol),
    ):
        response = await client.post(
            f"/items/{item_id}/transfer", json={"new_owner_id": target.id}, headers=actor.headers
        )
        assert response.status_code == 200
        await check_totals(*everyone)

    response = await client.delete(f"/items/{public['id']}", headers=alice.headers)
    assert response.status_code == 204
    await check_totals(*everyone)

    # deleting a user deletes their items (ON DELETE CASCADE): counts go with them
    response = await client.delete(f"/users/{carol.id}", headers=admin.headers)
    assert response.status_code == 204
    await check_totals(alice, bob, admin)


async def test_failed_writes_change_no_count(client, alice, bob, create_item, check_totals):
    item = await create_item(alice, is_public=True)
    attempts = [
        client.post("/items", json={"title": ""}, headers=alice.headers),
        client.post("/items/bulk", json=[{"title": "ok"}, {"title": ""}], headers=alice.headers),
        client.patch(f"/items/{item['id']}", json={"is_public": False}, headers=bob.headers),
        client.post(
            f"/items/{item['id']}/transfer", json={"new_owner_id": alice.id}, headers=alice.headers
        ),
        client.delete(f"/items/{item['id']}", headers={**alice.headers, "If-Match": '"old"'}),
    ]
    for attempt in attempts:
        assert (await attempt).status_code >= 400
    await check_totals(alice, bob)


async def test_an_unfiltered_total_reads_no_item_rows(
    client, alice, admin, create_item, count_statements
):
    await create_item(alice, is_public=True)
    for account, params in ((alice, {}), (alice, {"owner_only": True}), (admin, {})):
        with count_statements() as counter:
            response = await client.get("/items", params=params, headers=account.headers)
        assert response.json()["total"] == 1
        counts = [s for s in counter.statements if "count(" in s.lower()]
        assert counts == [], counts  # read off the counts tables
        assert any("item_counts" in s or "item_totals" in s for s in counter.statements)


async def test_a_filtered_total_counts_its_matches(client, alice, bob, create_item):
    await create_item(alice, "red", tags=["x"])
    await create_item(bob, "red too", tags=["x"], is_public=True)
    await create_item(bob, "red hidden", tags=["x"])
    for params, expected in (
        ({"search": "red"}, 2),
        ({"tag": "x"}, 2),
        ({"tag": "x", "owner_only": True}, 1),
        ({"search": "hidden"}, 0),
    ):
        response = await client.get("/items", params=params, headers=alice.headers)
        assert response.json()["total"] == expected, params

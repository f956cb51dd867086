"""GET /users/with-items: active users by username, each with the items the caller may see."""

import pytest


async def test_users_with_the_items_the_caller_may_see(
    client, create_item, alice, bob, admin, make_account
):
    await make_account("zed", is_active=False)
    await create_item(alice, "alice private", tags=["B", "a"])
    await create_item(alice, "alice public", is_public=True, tags=["x"])
    await create_item(bob, "bob private")

    response = await client.get("/users/with-items", headers=bob.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["total"], body["skip"], body["limit"]) == (3, 0, 10)
    assert [user["username"] for user in body["items"]] == ["admin", "alice", "bob"]
    admin_entry, alice_entry, bob_entry = body["items"]
    assert set(alice_entry) == {"id", "username", "full_name", "items"}  # UserPublic: no e-mail
    assert alice_entry["full_name"] == "Alice Liddell"
    assert admin_entry["items"] == []
    assert [item["title"] for item in alice_entry["items"]] == ["alice public"]
    assert alice_entry["items"][0]["tags"] == ["x"]
    assert alice_entry["items"][0]["owner"]["username"] == "alice"
    assert [item["title"] for item in bob_entry["items"]] == ["bob private"]

    as_admin = (await client.get("/users/with-items", headers=admin.headers)).json()
    alice_seen_by_admin = as_admin["items"][1]
    assert [item["title"] for item in alice_seen_by_admin["items"]] == [
        "alice public",
        "alice private",
    ]
    assert alice_seen_by_admin["items"][1]["tags"] == ["a", "b"]


async def test_paging_and_order_ignore_case(client, alice, make_account):
    for name in ["Carol", "bob", "Dave", "erin"]:
        await make_account(name)
    response = await client.get(
        "/users/with-items", params={"skip": 1, "limit": 2}, headers=alice.headers
    )
    body = response.json()
    assert [user["username"] for user in body["items"]] == ["bob", "Carol"]
    assert (body["total"], body["skip"], body["limit"]) == (5, 1, 2)


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"skip": -1}])
async def test_bad_paging_is_422(client, alice, params):
    response = await client.get("/users/with-items", params=params, headers=alice.headers)
    assert response.status_code == 422


async def test_needs_a_token_and_is_not_taken_for_a_user_id(client, alice):
    assert (await client.get("/users/with-items")).status_code == 401
    # a plain user reaches it (the superuser-only /users/{id} would answer 403 or 422)
    assert (await client.get("/users/with-items", headers=alice.headers)).status_code == 200


async def test_a_fixed_number_of_statements_whatever_the_page_size(
    client, make_account, count_statements
):
    viewer = await make_account("viewer")
    for n in range(12):
        owner = await make_account(f"owner{n:02}")
        bodies = [
            {"title": f"{n}-{k}", "is_public": k % 2 == 0, "tags": [f"t{k}", "shared"]}
            for k in range(4)
        ]
        response = await client.post("/items/bulk", json=bodies, headers=owner.headers)
        assert response.status_code == 201

    counts = {}
    for limit in (1, 5, 13):
        with count_statements() as counter:
            response = await client.get(
                "/users/with-items", params={"limit": limit}, headers=viewer.headers
            )
        assert response.status_code == 200
        assert len(response.json()["items"]) == limit
        counts[limit] = counter.count
    # auth, count, users, items (owners joined), tags
    assert len(set(counts.values())) == 1, counts
    assert counts[1] <= 6, counts

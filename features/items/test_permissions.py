"""Who may do what: owner / other user / superuser / anonymous × every route × public / private.

Reading an item one may not see is 404 (existence not revealed); changing an item one may see
but does not own is 403; no token is 401 everywhere.
"""

import pytest

OWNER, OTHER, SUPERUSER, ANONYMOUS = "owner", "other", "superuser", "anonymous"


ROUTES = {
    "get": lambda c, item, h, target: c.get(f"/items/{item}", headers=h),
    "patch": lambda c, item, h, target: c.patch(f"/items/{item}", json={"title": "x"}, headers=h),
    "put": lambda c, item, h, target: c.put(f"/items/{item}", json={"title": "x"}, headers=h),
    "delete": lambda c, item, h, target: c.delete(f"/items/{item}", headers=h),
    "transfer": lambda c, item, h, target: c.post(
        f"/items/{item}/transfer", json={"new_owner_id": target}, headers=h
    ),
    "transfers": lambda c, item, h, target: c.get(f"/items/{item}/transfers", headers=h),
}
SUCCESS = {"get": 200, "patch": 200, "put": 200, "delete": 204, "transfer": 200, "transfers": 200}
READS = {"get"}


def expected(role, route, public):
    if role == ANONYMOUS:
        return 401
    if role in (OWNER, SUPERUSER):
        return SUCCESS[route]
    if not public:
        return 404
    return SUCCESS[route] if route in READS else 403


CASES = [
    pytest.param(role, route, public, id=f"{role}-{route}-{'public' if public else 'private'}")
    for role in (OWNER, OTHER, SUPERUSER, ANONYMOUS)
    for route in ROUTES
    for public in (True, False)
]


@pytest.mark.parametrize(("role", "route", "public"), CASES)
async def test_matrix(client, alice, bob, admin, make_account, db_scalar, role, route, public):
    carol = await make_account("carol")
    created = await client.post(
        "/items", json={"title": "Original", "is_public": public}, headers=alice.headers
    )
    item = created.json()
    headers = {OWNER: alice.headers, OTHER: bob.headers, SUPERUSER: admin.headers}.get(role, {})

    response = await ROUTES[route](client, item["id"], headers, carol.id)

    assert response.status_code == expected(role, route, public), response.text
    if response.status_code == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"
    if response.status_code >= 400:
        # nothing changed
        unchanged = await client.get(f"/items/{item['id']}", headers=alice.headers)
        assert unchanged.json() == item
        assert await db_scalar("select count(*) from transfer_logs") == 0
    if response.status_code == 404:
        assert response.json() == {"detail": "Item not found"}


@pytest.mark.parametrize("public", [True, False], ids=["public", "private"])
async def test_list_and_with_items_follow_the_same_rule(client, alice, bob, admin, public):
    item = (
        await client.post(
            "/items", json={"title": "Mine", "is_public": public}, headers=alice.headers
        )
    ).json()

    async def listed(account):
        response = await client.get("/items", headers=account.headers)
        return [entry["id"] for entry in response.json()["items"]]

    async def nested(account):
        response = await client.get("/users/with-items", headers=account.headers)
        return [entry["id"] for user in response.json()["items"] for entry in user["items"]]

    assert await listed(alice) == [item["id"]]
    assert await listed(admin) == [item["id"]]
    assert await listed(bob) == ([item["id"]] if public else [])
    assert await nested(alice) == [item["id"]]
    assert await nested(admin) == [item["id"]]
    assert await nested(bob) == ([item["id"]] if public else [])
    assert (await client.get("/items")).status_code == 401
    assert (await client.get("/users/with-items")).status_code == 401
    assert (await client.post("/items", json={"title": "x"})).status_code == 401


async def test_an_inactive_users_token_is_refused(client, make_account):
    sleeper = await make_account("sleeper", is_active=False)
    assert (await client.get("/items", headers=sleeper.headers)).status_code == 401
    response = await client.post("/items", json={"title": "x"}, headers=sleeper.headers)
    assert response.status_code == 401

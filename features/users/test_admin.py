"""The superuser's routes: GET /users, GET/PATCH/DELETE /users/{id}."""

import uuid

import pytest

from conftest import PASSWORD

UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


# -- who may call them --


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/users", None),
        ("GET", "/users/{bob}", None),
        ("PATCH", "/users/{bob}", {"full_name": "Hacked"}),
        ("PATCH", "/users/{alice}", {"is_superuser": True}),
        ("DELETE", "/users/{bob}", None),
        ("GET", f"/users/{UNKNOWN_ID}", None),
    ],
)
async def test_superuser_routes_are_403_for_a_regular_user(
    client, alice, bob, db_scalar, method, path, body
):
    url = path.format(alice=alice.id, bob=bob.id)

    response = await client.request(method, url, headers=alice.headers, json=body)

    assert response.status_code == 403, response.text
    assert response.json() == {"detail": "Forbidden"}
    assert await db_scalar("SELECT count(*) FROM users") == 2
    assert await db_scalar("SELECT count(*) FROM users WHERE is_superuser = :t", t=True) == 0
    assert await db_scalar("SELECT full_name FROM users WHERE username = 'bob'") is None


# -- GET /users --


async def test_list_users_pages_by_username(client, admin, make_account):
    for name in ["zed", "Bea", "carl", "Abe"]:
        await make_account(name)

    first = await client.get("/users", headers=admin.headers, params={"limit": 3})
    second = await client.get("/users", headers=admin.headers, params={"skip": 3, "limit": 3})

    assert first.status_code == 200, first.text
    assert [user["username"] for user in first.json()["items"]] == ["Abe", "admin", "Bea"]
    assert {key: first.json()[key] for key in ("total", "skip", "limit")} == {
        "total": 5,
        "skip": 0,
        "limit": 3,
    }
    assert [user["username"] for user in second.json()["items"]] == ["carl", "zed"]
    assert second.json()["skip"] == 3
    item = first.json()["items"][0]
    assert "email" in item
    assert "hashed_password" not in item


async def test_list_users_default_page_size_is_10(client, admin, make_account):
    for index in range(11):
        await make_account(f"user{index:02d}")

    response = await client.get("/users", headers=admin.headers)

    assert response.status_code == 200
    assert response.json()["limit"] == 10
    assert response.json()["total"] == 12
    assert len(response.json()["items"]) == 10


@pytest.mark.parametrize(
    "params",
    [{"skip": -1}, {"limit": 0}, {"limit": 101}, {"limit": "ten"}, {"skip": "1.5"}],
)
async def test_list_users_bounds(client, admin, params):
    response = await client.get("/users", headers=admin.headers, params=params)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", next(iter(params))]


async def test_list_users_accepts_limit_100(client, admin):
    response = await client.get("/users", headers=admin.headers, params={"limit": 100})
    assert response.status_code == 200
    assert response.json()["limit"] == 100


# -- GET /users/{id} --


async def test_read_any_user(client, admin, alice):
    response = await client.get(f"/users/{alice.id}", headers=admin.headers)

    assert response.status_code == 200, response.text
    assert response.json()["id"] == alice.id
    assert response.json()["email"] == "alice@example.com"
    assert response.json()["full_name"] == "Alice Liddell"


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_unknown_user_is_404(client, admin, method):
    body = {"full_name": "x"} if method == "PATCH" else None

    response = await client.request(
        method, f"/users/{uuid.uuid4()}", headers=admin.headers, json=body
    )

    assert response.status_code == 404
    assert response.json() == {"detail": "User not found"}


# -- PATCH /users/{id} --


async def test_admin_changes_profile_and_flags(client, admin, alice, db_scalar):
    response = await client.patch(
        f"/users/{alice.id}",
        headers=admin.headers,
        json={
            "username": "alice-renamed",
            "full_name": "A. Liddell",
            "email": "liddell@example.com",
            "is_verified": True,
            "is_superuser": True,
        },
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["username"] == "alice-renamed"
    assert body["email"] == "liddell@example.com"
    assert body["is_superuser"] is True
    row = "FROM users WHERE username = 'alice-renamed'"
    assert await db_scalar(f"SELECT email {row}") == "liddell@example.com"
    assert await db_scalar(f"SELECT is_superuser {row}") in (True, 1)
    assert (await client.get("/users", headers=alice.headers)).status_code == 200


async def test_admin_deactivates_a_user(client, login, admin, alice, db_scalar):
    response = await client.patch(
        f"/users/{alice.id}", headers=admin.headers, json={"is_active": False}
    )

    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert await db_scalar("SELECT is_active FROM users WHERE username = 'alice'") in (False, 0)
    assert (await login("alice", PASSWORD)).status_code == 400


async def test_admin_sets_a_password_without_the_current_one(client, login, admin, alice):
    response = await client.patch(
        f"/users/{alice.id}", headers=admin.headers, json={"password": "set-by-the-admin"}
    )

    assert response.status_code == 200, response.text
    assert (await login("alice", "set-by-the-admin")).status_code == 200
    assert (await login("alice", PASSWORD)).status_code == 400


async def test_admin_password_change_follows_the_policy(client, admin, alice, db_scalar):
    before = await db_scalar("SELECT hashed_password FROM users WHERE username = 'alice'")

    response = await client.patch(
        f"/users/{alice.id}", headers=admin.headers, json={"password": "short"}
    )

    assert response.status_code == 400
    assert response.json()["detail"]["code"] == "UPDATE_USER_INVALID_PASSWORD"
    assert await db_scalar("SELECT hashed_password FROM users WHERE username = 'alice'") == before


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        pytest.param({"username": "Bob"}, "UPDATE_USER_USERNAME_ALREADY_EXISTS", id="username"),
        pytest.param({"email": "BOB@example.com"}, "UPDATE_USER_EMAIL_ALREADY_EXISTS", id="email"),
    ],
)
async def test_admin_patch_to_a_taken_name_changes_nothing(
    client, admin, alice, bob, db_scalar, body, detail
):
    response = await client.patch(
        f"/users/{alice.id}", headers=admin.headers, json={**body, "is_verified": True}
    )

    assert response.status_code == 400
    assert response.json() == {"detail": detail}
    row = "FROM users WHERE full_name = 'Alice Liddell'"
    assert await db_scalar(f"SELECT username {row}") == "alice"
    assert await db_scalar(f"SELECT email {row}") == "alice@example.com"
    assert await db_scalar(f"SELECT is_verified {row}") in (False, 0)


# -- DELETE /users/{id} --


async def test_admin_deletes_a_user(client, admin, alice, bob, db_scalar):
    response = await client.delete(f"/users/{alice.id}", headers=admin.headers)

    assert response.status_code == 204
    assert response.content == b""
    assert await db_scalar("SELECT count(*) FROM users WHERE username = 'alice'") == 0
    assert await db_scalar("SELECT count(*) FROM users") == 2
    assert (await client.get(f"/users/{alice.id}", headers=admin.headers)).status_code == 404
    assert (await client.get("/users/me", headers=alice.headers)).status_code == 401

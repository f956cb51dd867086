"""GET and PATCH /users/me: one's own account."""

import pytest
from sqlalchemy import update

from conftest import PASSWORD, USER_READ_FIELDS, Account, AccountFactory
from core.db import session_factory
from features.auth.manager import UserManager
from features.users.models import User

NEW_PASSWORD = "a-brand-new-password"


@pytest.fixture
async def verified_carol(make_account: AccountFactory) -> Account:
    """carol, whose e-mail address is already verified."""
    account = await make_account("carol")
    async with session_factory() as session:
        await session.execute(update(User).values(is_verified=True))
        await session.commit()
    return account


async def test_me_reads_the_callers_account(client, alice, bob):
    response = await client.get("/users/me", headers=alice.headers)

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == alice.id
    assert body["email"] == "alice@example.com"
    assert body["username"] == "alice"
    assert body["full_name"] == "Alice Liddell"
    assert (body["is_active"], body["is_superuser"], body["is_verified"]) == (True, False, False)
    assert "hashed_password" not in body
    assert set(body) == USER_READ_FIELDS


async def test_patch_username_and_full_name(client, login, alice, db_scalar):
    before = await client.get("/users/me", headers=alice.headers)

    response = await client.patch(
        "/users/me", headers=alice.headers, json={"username": "alice2", "full_name": "  Alice L.  "}
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["username"] == "alice2"
    assert body["full_name"] == "Alice L."
    assert body["email"] == "alice@example.com"
    assert body["created_at"] == before.json()["created_at"]
    assert body["updated_at"] >= before.json()["updated_at"]
    assert await db_scalar("SELECT username FROM users") == "alice2"
    assert await db_scalar("SELECT full_name FROM users") == "Alice L."
    assert (await login("alice2", PASSWORD)).status_code == 200


async def test_patch_full_name_null_clears_it(client, alice, db_scalar):
    response = await client.patch("/users/me", headers=alice.headers, json={"full_name": None})
    assert response.status_code == 200
    assert response.json()["full_name"] is None
    assert await db_scalar("SELECT full_name FROM users") is None


async def test_patch_with_nothing_changes_nothing(client, alice, db_scalar):
    response = await client.patch("/users/me", headers=alice.headers, json={})
    assert response.status_code == 200
    assert response.json()["username"] == "alice"
    assert await db_scalar("SELECT full_name FROM users") == "Alice Liddell"


async def test_patch_null_username_is_ignored(client, alice, db_scalar):
    response = await client.patch("/users/me", headers=alice.headers, json={"username": None})
    assert response.status_code == 200
    assert await db_scalar("SELECT username FROM users") == "alice"


async def test_change_password_with_current_password(client, login, alice, db_scalar):
    response = await client.patch(
        "/users/me",
        headers=alice.headers,
        json={"password": NEW_PASSWORD, "current_password": PASSWORD},
    )

    assert response.status_code == 200, response.text
    assert (await login("alice", NEW_PASSWORD)).status_code == 200
    assert (await login("alice", PASSWORD)).status_code == 400


async def test_change_email_with_current_password_unverifies(
    client, login, verified_carol, db_scalar
):
    response = await client.patch(
        "/users/me",
        headers=verified_carol.headers,
        json={"email": "carol.new@example.com", "current_password": PASSWORD},
    )

    assert response.status_code == 200, response.text
    assert response.json()["email"] == "carol.new@example.com"
    assert response.json()["is_verified"] is False
    assert await db_scalar("SELECT email FROM users") == "carol.new@example.com"
    assert await db_scalar("SELECT is_verified FROM users") in (False, 0)
    assert (await login("carol.new@example.com", PASSWORD)).status_code == 200
    assert (await login("carol@example.com", PASSWORD)).status_code == 400


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"email": "alice.new@example.com"}, id="email"),
        pytest.param({"password": NEW_PASSWORD}, id="password"),
        pytest.param({"email": "alice.new@example.com", "password": NEW_PASSWORD}, id="both"),
    ],
)
@pytest.mark.parametrize(
    "current",
    [
        pytest.param({}, id="missing"),
        pytest.param({"current_password": None}, id="null"),
        pytest.param({"current_password": "wrong-password"}, id="wrong"),
        pytest.param({"current_password": NEW_PASSWORD}, id="the-new-one"),
    ],
)
async def test_email_or_password_change_needs_the_current_password(
    client, alice, db_scalar, change, current
):
    hashed_before = await db_scalar("SELECT hashed_password FROM users")

    response = await client.patch(
        "/users/me", headers=alice.headers, json={**change, **current, "full_name": "Changed"}
    )

    assert response.status_code == 400, response.text
    assert response.json() == {"detail": "UPDATE_USER_BAD_CURRENT_PASSWORD"}
    assert await db_scalar("SELECT email FROM users") == "alice@example.com"
    assert await db_scalar("SELECT hashed_password FROM users") == hashed_before
    assert await db_scalar("SELECT full_name FROM users") == "Alice Liddell"


@pytest.mark.parametrize(
    ("body", "reason_part"),
    [
        pytest.param({"password": "short"}, "8 to 128", id="too-short"),
        pytest.param({"password": "x" * 129}, "8 to 128", id="too-long"),
        pytest.param({"password": "ALICE@example.com"}, "differ", id="equals-email"),
        pytest.param({"password": "Alice"}, "8 to 128", id="equals-username-and-short"),
        pytest.param(
            {"password": "wonderland", "username": "wonderland"}, "differ", id="equals-new-username"
        ),
        pytest.param(
            {"password": "new@example.com", "email": "new@example.com"},
            "differ",
            id="equals-new-email",
        ),
    ],
)
async def test_password_change_follows_the_policy(client, alice, db_scalar, body, reason_part):
    hashed_before = await db_scalar("SELECT hashed_password FROM users")

    response = await client.patch(
        "/users/me", headers=alice.headers, json={**body, "current_password": PASSWORD}
    )

    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert detail["code"] == "UPDATE_USER_INVALID_PASSWORD"
    assert reason_part in detail["reason"]
    # nothing of the request was applied, not even the other fields
    assert await db_scalar("SELECT hashed_password FROM users") == hashed_before
    assert await db_scalar("SELECT username FROM users") == "alice"
    assert await db_scalar("SELECT email FROM users") == "alice@example.com"


async def test_password_equal_to_the_username_is_refused(client, login, make_account, db_scalar):
    account = await make_account("longusername")
    response = await client.patch(
        "/users/me",
        headers=account.headers,
        json={"password": "LongUserName", "current_password": PASSWORD},
    )
    assert response.status_code == 400
    assert response.json()["detail"]["code"] == "UPDATE_USER_INVALID_PASSWORD"
    assert (await login("longusername", PASSWORD)).status_code == 200


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        pytest.param({"username": "BOB"}, "UPDATE_USER_USERNAME_ALREADY_EXISTS", id="username"),
        pytest.param(
            {"email": "Bob@Example.com", "current_password": PASSWORD},
            "UPDATE_USER_EMAIL_ALREADY_EXISTS",
            id="email",
        ),
    ],
)
async def test_taken_username_or_email_is_400_and_changes_nothing(
    client, alice, bob, db_scalar, body, detail
):
    response = await client.patch(
        "/users/me", headers=alice.headers, json={**body, "full_name": "Changed"}
    )

    assert response.status_code == 400, response.text
    assert response.json() == {"detail": detail}
    assert (
        await db_scalar("SELECT username FROM users WHERE email = 'alice@example.com'") == "alice"
    )
    assert await db_scalar("SELECT full_name FROM users WHERE email = 'alice@example.com'") == (
        "Alice Liddell"
    )
    assert await db_scalar("SELECT count(*) FROM users") == 2


async def test_changing_only_the_case_of_ones_own_username_is_applied(
    client, login, alice, db_scalar
):
    response = await client.patch("/users/me", headers=alice.headers, json={"username": "Alice"})

    assert response.status_code == 200, response.text
    assert response.json()["username"] == "Alice"
    assert await db_scalar("SELECT username FROM users") == "Alice"
    assert (await login("alice", PASSWORD)).status_code == 200


async def test_changing_only_the_case_of_ones_own_email_keeps_it_verified(
    client, verified_carol, db_scalar
):
    response = await client.patch(
        "/users/me",
        headers=verified_carol.headers,
        json={"email": "Carol@example.com", "current_password": PASSWORD},
    )

    assert response.status_code == 200, response.text
    assert response.json()["email"] == "Carol@example.com"
    assert response.json()["is_verified"] is True
    assert await db_scalar("SELECT email FROM users") == "Carol@example.com"


@pytest.mark.parametrize("identifier", ["Ärger@example.com", "aerger"])
async def test_non_ascii_email_logs_in_as_registered(client, login, identifier):
    # SQLite's lower() folds ASCII only: lookups must lower both sides in the database
    registered = await client.post(
        "/auth/register",
        json={"email": "Ärger@example.com", "username": "aerger", "password": "long-enough-pw"},
    )
    assert registered.status_code == 201, registered.text
    assert (await login(identifier, "long-enough-pw")).status_code == 200
    taken = await client.post(
        "/auth/register",
        json={"email": "Ärger@example.com", "username": "other", "password": "long-enough-pw"},
    )
    assert taken.json() == {"detail": "REGISTER_USER_ALREADY_EXISTS"}


async def test_non_ascii_email_duplicate_in_other_case_on_postgres(client, is_postgres):
    if not is_postgres:
        pytest.skip("SQLite's lower() folds ASCII only: Ä and ä stay distinct there")
    body = {"email": "Ärger@example.com", "username": "aerger", "password": "long-enough-pw"}
    assert (await client.post("/auth/register", json=body)).status_code == 201
    body.update(email="ärger@example.com", username="aerger2")
    response = await client.post("/auth/register", json=body)
    assert response.status_code == 400
    assert response.json() == {"detail": "REGISTER_USER_ALREADY_EXISTS"}


async def test_unique_index_catches_a_username_the_pre_check_missed(
    client, alice, bob, db_scalar, monkeypatch
):
    pre_check = UserManager._taken
    calls = []

    async def missed_once(self, column, value, *, except_id):
        calls.append(value)
        if len(calls) == 1:
            return False  # as when a concurrent request takes the name in between
        return await pre_check(self, column, value, except_id=except_id)

    monkeypatch.setattr(UserManager, "_taken", missed_once)

    response = await client.patch(
        "/users/me", headers=alice.headers, json={"username": "Bob", "full_name": "Changed"}
    )

    assert response.status_code == 400, response.text
    assert response.json() == {"detail": "UPDATE_USER_USERNAME_ALREADY_EXISTS"}
    assert await db_scalar("SELECT count(*) FROM users WHERE lower(username) = 'bob'") == 1
    assert await db_scalar("SELECT full_name FROM users WHERE email = 'alice@example.com'") == (
        "Alice Liddell"
    )


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"is_superuser": True}, id="is_superuser"),
        pytest.param({"is_active": False}, id="is_active"),
        pytest.param({"is_verified": True}, id="is_verified"),
        pytest.param({"hashed_password": "$argon2id$forged"}, id="hashed_password"),
        pytest.param({"id": "00000000-0000-0000-0000-000000000001"}, id="id"),
        pytest.param(
            {"is_superuser": True, "is_verified": True, "full_name": "Still Alice"}, id="mixed"
        ),
    ],
)
async def test_patch_me_cannot_raise_privileges(client, alice, db_scalar, body):
    hashed_before = await db_scalar("SELECT hashed_password FROM users")

    response = await client.patch("/users/me", headers=alice.headers, json=body)

    assert response.status_code == 200, response.text
    read = response.json()
    assert (read["is_superuser"], read["is_active"], read["is_verified"]) == (False, True, False)
    assert read["id"] == alice.id
    assert await db_scalar("SELECT is_superuser FROM users") in (False, 0)
    assert await db_scalar("SELECT is_active FROM users") in (True, 1)
    assert await db_scalar("SELECT is_verified FROM users") in (False, 0)
    assert await db_scalar("SELECT hashed_password FROM users") == hashed_before
    # and the superuser routes stay closed to her
    assert (await client.get("/users", headers=alice.headers)).status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"username": "al"}, id="username-too-short"),
        pytest.param({"username": "al ice"}, id="username-bad-char"),
        pytest.param({"email": "nope", "current_password": PASSWORD}, id="email-invalid"),
        pytest.param({"full_name": "x" * 101}, id="full-name-too-long"),
    ],
)
async def test_patch_me_validates_fields(client, alice, db_scalar, body):
    response = await client.patch("/users/me", headers=alice.headers, json=body)
    assert response.status_code == 422, response.text
    assert await db_scalar("SELECT username FROM users") == "alice"

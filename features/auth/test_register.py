"""POST /auth/register: the account it creates, duplicates (also racing), the password policy."""

import asyncio
import uuid

import pytest

from conftest import USER_READ_FIELDS
from features.auth.manager import UserManager

GOOD_PASSWORD = "a-long-enough-password"


def registration(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "email": "carol@example.com",
        "username": "carol",
        "password": GOOD_PASSWORD,
    }
    body.update(overrides)
    return body


async def test_register_creates_the_user(client, db_scalar):
    response = await client.post("/auth/register", json=registration(full_name="Carol Danvers"))

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == USER_READ_FIELDS
    assert body["email"] == "carol@example.com"
    assert body["username"] == "carol"
    assert body["full_name"] == "Carol Danvers"
    assert (body["is_active"], body["is_superuser"], body["is_verified"]) == (True, False, False)
    assert body["created_at"].endswith(("Z", "+00:00"))
    assert body["updated_at"].endswith(("Z", "+00:00"))
    uuid.UUID(body["id"])

    assert await db_scalar("SELECT count(*) FROM users") == 1
    stored = await db_scalar("SELECT hashed_password FROM users WHERE username = 'carol'")
    assert stored.startswith("$argon2id$")
    assert GOOD_PASSWORD not in stored


async def test_register_then_login_then_me(client):
    created = await client.post("/auth/register", json=registration())
    assert created.status_code == 201, created.text

    login = await client.post(
        "/auth/jwt/login", data={"username": "carol@example.com", "password": GOOD_PASSWORD}
    )
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]

    me = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    assert me.json() == created.json()


async def test_register_ignores_privileges_and_server_fields_in_the_body(client, db_scalar):
    forced_id = str(uuid.uuid4())
    response = await client.post(
        "/auth/register",
        json=registration(
            is_superuser=True,
            is_active=False,
            is_verified=True,
            id=forced_id,
            hashed_password="$argon2id$forged",
            created_at="2000-01-01T00:00:00Z",
        ),
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["is_active"], body["is_superuser"], body["is_verified"]) == (True, False, False)
    assert body["id"] != forced_id
    assert not body["created_at"].startswith("2000")
    row = "FROM users WHERE username = 'carol'"
    assert await db_scalar(f"SELECT is_superuser {row}") in (False, 0)
    assert await db_scalar(f"SELECT is_active {row}") in (True, 1)
    assert await db_scalar(f"SELECT is_verified {row}") in (False, 0)
    assert await db_scalar(f"SELECT hashed_password {row}") != "$argon2id$forged"
    assert await db_scalar("SELECT count(*) FROM users") == 1


@pytest.mark.parametrize(
    "taken",
    [
        pytest.param({"email": "ALICE@Example.COM"}, id="email-other-case"),
        pytest.param({"email": "alice@example.com"}, id="email-same"),
        pytest.param({"username": "ALICE"}, id="username-other-case"),
        pytest.param({"username": "alice"}, id="username-same"),
    ],
)
async def test_register_refuses_a_taken_email_or_username(client, alice, db_scalar, taken):
    response = await client.post("/auth/register", json=registration(**taken))

    assert response.status_code == 400, response.text
    assert response.json() == {"detail": "REGISTER_USER_ALREADY_EXISTS"}
    assert await db_scalar("SELECT count(*) FROM users") == 1


@pytest.mark.parametrize(
    ("password", "reason_part"),
    [
        pytest.param("short7!", "8 to 128", id="7-chars"),
        pytest.param("", "8 to 128", id="empty"),
        pytest.param("x" * 129, "8 to 128", id="129-chars"),
        pytest.param("carol@example.com", "differ", id="equals-email"),
        pytest.param("CAROL@EXAMPLE.COM", "differ", id="equals-email-other-case"),
        pytest.param("carolcarol", "differ", id="equals-username"),
    ],
)
async def test_register_refuses_a_weak_password(client, db_scalar, password, reason_part):
    body = registration(password=password)
    if reason_part == "differ" and "@" not in password:
        body["username"] = password
    response = await client.post("/auth/register", json=body)

    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert detail["code"] == "REGISTER_INVALID_PASSWORD"
    assert reason_part in detail["reason"]
    assert await db_scalar("SELECT count(*) FROM users") == 0


@pytest.mark.parametrize("password", ["x" * 8, "x" * 128], ids=["8-chars", "128-chars"])
async def test_register_accepts_passwords_at_the_length_bounds(client, password):
    response = await client.post("/auth/register", json=registration(password=password))
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "field",
    [
        pytest.param({"email": "not-an-email"}, id="email-invalid"),
        pytest.param({"username": "ab"}, id="username-too-short"),
        pytest.param({"username": "a" * 51}, id="username-too-long"),
        pytest.param({"username": "car ol"}, id="username-space"),
        pytest.param({"username": "carøl"}, id="username-non-ascii"),
        pytest.param({"full_name": "x" * 101}, id="full-name-too-long"),
    ],
)
async def test_register_validates_fields(client, db_scalar, field):
    response = await client.post("/auth/register", json=registration(**field))

    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", next(iter(field))]
    assert await db_scalar("SELECT count(*) FROM users") == 0


@pytest.mark.parametrize("missing", ["email", "username", "password"])
async def test_register_requires_fields(client, missing):
    body = registration()
    del body[missing]
    response = await client.post("/auth/register", json=body)
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["body", missing]]


async def test_register_accepts_the_username_alphabet(client):
    response = await client.post("/auth/register", json=registration(username="A_b.c-9"))
    assert response.status_code == 201, response.text
    assert response.json()["username"] == "A_b.c-9"


# -- races: two registrations reach the database together --


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param(
            {"email": "race@example.com", "username": "racer1"},
            {"email": "RACE@example.com", "username": "racer2"},
            id="same-email",
        ),
        pytest.param(
            {"email": "racer1@example.com", "username": "racer"},
            {"email": "racer2@example.com", "username": "RACER"},
            id="same-username",
        ),
    ],
)
@pytest.mark.commits
async def test_racing_registrations_create_one_user(client, db_scalar, first, second):
    responses = await asyncio.gather(
        client.post("/auth/register", json=registration(**first)),
        client.post("/auth/register", json=registration(**second)),
    )

    assert sorted(response.status_code for response in responses) == [201, 400], [
        response.text for response in responses
    ]
    [loser] = [response for response in responses if response.status_code == 400]
    assert loser.json() == {"detail": "REGISTER_USER_ALREADY_EXISTS"}
    assert await db_scalar("SELECT count(*) FROM users") == 1


@pytest.fixture
def skip_pre_check(monkeypatch):
    """Make the manager's duplicate pre-check miss, as it does when a race slips past it."""

    async def never_taken(self, column, value, *, except_id):
        return False

    monkeypatch.setattr(UserManager, "_taken", never_taken)


@pytest.mark.parametrize(
    "taken",
    [
        pytest.param({"email": "ALICE@example.com"}, id="email"),
        pytest.param({"username": "Alice"}, id="username"),
    ],
)
async def test_unique_index_catches_what_the_pre_check_missed(
    client, alice, db_scalar, skip_pre_check, taken
):
    response = await client.post("/auth/register", json=registration(**taken))

    assert response.status_code == 400, response.text
    assert response.json() == {"detail": "REGISTER_USER_ALREADY_EXISTS"}
    assert await db_scalar("SELECT count(*) FROM users") == 1
    assert await db_scalar("SELECT username FROM users") == "alice"

    # the session was left usable: the next registration goes through
    response = await client.post("/auth/register", json=registration())
    assert response.status_code == 201, response.text
    assert await db_scalar("SELECT count(*) FROM users") == 2


async def test_an_overlong_password_is_the_policy_400_not_a_422(client, db_scalar):
    response = await client.post("/auth/register", json=registration(password="p" * 5000))

    assert response.status_code == 400
    assert response.json()["detail"]["code"] == "REGISTER_INVALID_PASSWORD"
    assert await db_scalar("SELECT count(*) FROM users") == 0

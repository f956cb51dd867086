"""POST /auth/jwt/login: by e-mail or username, ignoring case; every failure looks the same."""

import jwt
import pytest
from pwdlib.hashers.bcrypt import BcryptHasher
from sqlalchemy import update

from conftest import PASSWORD
from core.config import get_settings
from core.db import session_factory
from features.users.models import User


@pytest.mark.parametrize(
    "identifier",
    ["alice", "ALICE", "Alice", "alice@example.com", "ALICE@EXAMPLE.COM"],
)
async def test_login_by_username_or_email_ignoring_case(client, login, alice, bob, identifier):
    response = await login(identifier)

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type"}
    assert body["token_type"] == "bearer"
    claims = jwt.decode(
        body["access_token"],
        get_settings().secret_key,
        algorithms=["HS256"],
        audience="fastapi-users:auth",
    )
    assert claims["sub"] == alice.id

    me = await client.get("/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["username"] == "alice"


@pytest.mark.parametrize(
    ("identifier", "password"),
    [
        pytest.param("alice", "wrong-password", id="wrong-password"),
        pytest.param("alice", PASSWORD.upper(), id="password-other-case"),
        pytest.param("nobody", PASSWORD, id="unknown-username"),
        pytest.param("nobody@example.com", PASSWORD, id="unknown-email"),
        pytest.param("alic", PASSWORD, id="username-prefix"),
        pytest.param("%", PASSWORD, id="like-wildcard"),
        pytest.param("bob", PASSWORD.replace("h", "H"), id="other-user-wrong-password"),
    ],
)
async def test_login_with_bad_credentials_is_400(login, alice, bob, identifier, password):
    response = await login(identifier, password)

    assert response.status_code == 400, response.text
    assert response.json() == {"detail": "LOGIN_BAD_CREDENTIALS"}


async def test_inactive_user_cannot_log_in(login, make_account):
    await make_account("sleepy", is_active=False)

    response = await login("sleepy")

    assert response.status_code == 400
    assert response.json() == {"detail": "LOGIN_BAD_CREDENTIALS"}


async def test_username_that_looks_like_another_users_email_does_not_cross(login, make_account):
    # one user's username cannot log in as the user whose e-mail it matches, and vice versa
    await make_account("dave", email="dave.mail@example.com")
    await make_account("eve-user", email="eve@example.com")

    assert (await login("dave.mail@example.com")).status_code == 200
    assert (await login("eve-user")).status_code == 200
    assert (await login("dave.mail")).status_code == 400


@pytest.mark.parametrize("missing", ["username", "password"])
async def test_login_requires_both_form_fields(client, alice, missing):
    data = {"username": "alice", "password": PASSWORD}
    del data[missing]

    response = await client.post("/auth/jwt/login", data=data)

    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["body", missing]]


async def test_login_takes_a_form_not_json(client, alice):
    response = await client.post(
        "/auth/jwt/login", json={"username": "alice", "password": PASSWORD}
    )

    assert response.status_code == 422
    assert set(response.json()) == {"detail"}


async def test_login_upgrades_an_outdated_hash(login, make_account, db_scalar):
    # a bcrypt hash (an older scheme pwdlib still verifies) is replaced by argon2 on login
    account = await make_account("legacy")
    legacy_hash = BcryptHasher().hash(PASSWORD)
    async with session_factory() as session:
        await session.execute(
            update(User).where(User.id == account.user.id).values(hashed_password=legacy_hash)
        )
        await session.commit()

    response = await login("legacy")

    assert response.status_code == 200, response.text
    stored = await db_scalar("SELECT hashed_password FROM users WHERE username = 'legacy'")
    assert stored.startswith("$argon2id$")
    assert (await login("legacy")).status_code == 200

"""Bearer tokens: every bad one is a 401 that names the Bearer scheme."""

import base64
import json
import uuid

import pytest
from fastapi_users.jwt import generate_jwt
from sqlalchemy import delete

from core.config import get_settings
from core.db import session_factory
from features.users.models import User

AUTH_AUDIENCE = ["fastapi-users:auth"]

# every route that needs a user, with a body it would accept
PROTECTED = [
    ("GET", "/users/me"),
    ("PATCH", "/users/me"),
    ("GET", "/users"),
    ("GET", "/users/00000000-0000-0000-0000-000000000000"),
    ("PATCH", "/users/00000000-0000-0000-0000-000000000000"),
    ("DELETE", "/users/00000000-0000-0000-0000-000000000000"),
    ("POST", "/auth/jwt/logout"),
]


def token_for(
    user_id: object,
    *,
    secret: str | None = None,
    lifetime: int = 3600,
    aud: list[str] = AUTH_AUDIENCE,
) -> str:
    payload = {"sub": str(user_id), "aud": aud}
    return generate_jwt(payload, secret or get_settings().secret_key, lifetime)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_unauthorized(response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": "Unauthorized"}


@pytest.mark.parametrize(("method", "path"), PROTECTED)
async def test_no_token_is_401(client, method, path):
    response = await client.request(method, path, json={})
    assert_unauthorized(response)


async def test_valid_token_is_accepted(client, alice):
    response = await client.get("/users/me", headers=alice.headers)
    assert response.status_code == 200
    assert response.json()["id"] == alice.id


def _tamper_payload(token: str, user_id: str) -> str:
    header, _payload, signature = token.split(".")
    forged = {"sub": user_id, "aud": AUTH_AUDIENCE, "exp": 4102444800}
    encoded = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    return f"{header}.{encoded}.{signature}"


def _flip_signature(token: str) -> str:
    header, payload, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return f"{header}.{payload}.{flipped}"


def _unsigned(user_id: str) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims = {"sub": user_id, "aud": AUTH_AUDIENCE, "exp": 4102444800}
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda alice, admin: "not-a-jwt", id="garbage"),
        pytest.param(lambda alice, admin: "", id="empty"),
        pytest.param(lambda alice, admin: _flip_signature(alice.token), id="bad-signature"),
        pytest.param(
            lambda alice, admin: _tamper_payload(alice.token, admin.id), id="payload-swapped"
        ),
        pytest.param(lambda alice, admin: _unsigned(admin.id), id="alg-none"),
        pytest.param(
            lambda alice, admin: token_for(
                admin.id, secret="another-secret-key-of-32-bytes-at-least"
            ),
            id="other-secret",
        ),
        pytest.param(lambda alice, admin: token_for(admin.id, lifetime=-60), id="expired"),
        pytest.param(
            lambda alice, admin: token_for(admin.id, aud=["fastapi-users:verify"]),
            id="verify-audience",
        ),
        pytest.param(
            lambda alice, admin: token_for(admin.id, aud=["fastapi-users:reset"]),
            id="reset-audience",
        ),
        pytest.param(lambda alice, admin: token_for(admin.id, aud=[]), id="no-audience"),
        pytest.param(lambda alice, admin: token_for("not-a-uuid"), id="sub-not-uuid"),
        pytest.param(lambda alice, admin: token_for(uuid.uuid4()), id="sub-unknown-user"),
    ],
)
async def test_bad_tokens_are_401(client, alice, admin, make_token):
    response = await client.get("/users", headers=bearer(make_token(alice, admin)))
    assert_unauthorized(response)


async def test_token_without_subject_is_401(client):
    token = generate_jwt({"aud": AUTH_AUDIENCE}, get_settings().secret_key, 3600)
    assert_unauthorized(await client.get("/users/me", headers=bearer(token)))


@pytest.mark.parametrize(
    "authorization",
    ["Basic YWxpY2U6cGFzc3dvcmQ=", "Bearer", "Token {token}", "{token}"],
)
async def test_wrong_authorization_scheme_is_401(client, alice, authorization):
    header = authorization.format(token=alice.token)
    assert_unauthorized(await client.get("/users/me", headers={"Authorization": header}))


async def test_token_of_a_deleted_user_is_401(client, alice, db_scalar):
    async with session_factory() as session:
        await session.execute(delete(User).where(User.id == alice.user.id))
        await session.commit()
    assert await db_scalar("SELECT count(*) FROM users") == 0

    assert_unauthorized(await client.get("/users/me", headers=alice.headers))


async def test_token_of_a_deactivated_user_is_401(client, alice, admin, db_scalar):
    deactivate = await client.patch(
        f"/users/{alice.id}", headers=admin.headers, json={"is_active": False}
    )
    assert deactivate.status_code == 200, deactivate.text

    for method, path in PROTECTED:
        response = await client.request(method, path, headers=alice.headers, json={})
        assert_unauthorized(response)


async def test_token_of_an_inactive_user_is_401(client, make_account):
    sleepy = await make_account("sleepy", is_active=False)
    assert_unauthorized(await client.get("/users/me", headers=sleepy.headers))

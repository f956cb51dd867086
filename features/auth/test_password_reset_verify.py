"""Forgot/reset password and e-mail verification, with the message sender captured."""

import json

import pytest
from fastapi_users.jwt import generate_jwt

from conftest import PASSWORD
from core.config import get_settings
from features.auth.conftest import TOKEN

NEW_PASSWORD = "a-brand-new-password"


async def request_reset(client, outbox, email: str) -> str:
    response = await client.post("/auth/forgot-password", json={"email": email})
    assert response.status_code == 202, response.text
    return outbox.token()


# -- forgot / reset password --


async def test_forgot_password_sends_a_token_that_resets_the_password(client, login, alice, outbox):
    response = await client.post("/auth/forgot-password", json={"email": "alice@example.com"})

    assert response.status_code == 202
    assert response.json() is None
    [message] = outbox
    assert message.to == "alice@example.com"
    assert "reset-password" in message.body

    reset = await client.post(
        "/auth/reset-password", json={"token": outbox.token(), "password": NEW_PASSWORD}
    )

    assert reset.status_code == 200, reset.text
    assert (await login("alice", NEW_PASSWORD)).status_code == 200
    assert (await login("alice", PASSWORD)).status_code == 400


async def test_forgot_password_ignores_the_email_case(client, alice, outbox):
    response = await client.post("/auth/forgot-password", json={"email": "ALICE@example.com"})
    assert response.status_code == 202
    assert [message.to for message in outbox] == ["alice@example.com"]


@pytest.mark.parametrize("email", ["nobody@example.com", "sleepy@example.com"])
@pytest.mark.parametrize(
    "route",
    [
        pytest.param("/auth/forgot-password", id="forgot-password"),
        pytest.param("/auth/request-verify-token", id="request-verify-token"),
    ],
)
async def test_forgot_password_or_verify_reveals_nothing_for_unknown_or_inactive(
    client, make_account, outbox, route, email
):
    await make_account("sleepy", is_active=False)

    response = await client.post(route, json={"email": email})

    assert response.status_code == 202
    assert response.json() is None
    assert outbox == []


async def test_reset_token_works_once(client, login, alice, outbox):
    token = await request_reset(client, outbox, "alice@example.com")
    first = await client.post(
        "/auth/reset-password", json={"token": token, "password": NEW_PASSWORD}
    )
    assert first.status_code == 200, first.text

    again = await client.post(
        "/auth/reset-password", json={"token": token, "password": "yet-another-password"}
    )

    assert again.status_code == 400
    assert again.json() == {"detail": "RESET_PASSWORD_BAD_TOKEN"}
    assert (await login("alice", NEW_PASSWORD)).status_code == 200


async def test_reset_token_dies_when_the_password_changes(client, login, alice, outbox):
    token = await request_reset(client, outbox, "alice@example.com")
    changed = await client.patch(
        "/users/me",
        headers=alice.headers,
        json={"password": NEW_PASSWORD, "current_password": PASSWORD},
    )
    assert changed.status_code == 200, changed.text

    response = await client.post(
        "/auth/reset-password", json={"token": token, "password": "attacker-chosen-pw"}
    )

    assert response.status_code == 400
    assert response.json() == {"detail": "RESET_PASSWORD_BAD_TOKEN"}
    assert (await login("alice", NEW_PASSWORD)).status_code == 200


async def test_reset_refused_for_a_user_deactivated_since(client, alice, admin, outbox, db_scalar):
    token = await request_reset(client, outbox, "alice@example.com")
    before = await db_scalar("SELECT hashed_password FROM users WHERE username = 'alice'")
    await client.patch(f"/users/{alice.id}", headers=admin.headers, json={"is_active": False})

    response = await client.post(
        "/auth/reset-password", json={"token": token, "password": NEW_PASSWORD}
    )

    assert response.status_code == 400
    assert response.json() == {"detail": "RESET_PASSWORD_BAD_TOKEN"}
    assert await db_scalar("SELECT hashed_password FROM users WHERE username = 'alice'") == before


def _foreign_token(alice) -> str:
    secret = get_settings().secret_key
    return generate_jwt({"sub": alice.id, "aud": "fastapi-users:verify"}, secret, 3600)


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda alice: "garbage", id="garbage"),
        pytest.param(lambda alice: alice.token, id="access-token"),
        pytest.param(_foreign_token, id="verify-audience"),
        pytest.param(
            lambda alice: generate_jwt(
                {"sub": alice.id, "password_fgpt": "x", "aud": "fastapi-users:reset"},
                "another-secret-key-of-32-bytes-at-least",
                3600,
            ),
            id="other-secret",
        ),
    ],
)
async def test_reset_with_a_bad_token_is_400(client, alice, db_scalar, make_token):
    before = await db_scalar("SELECT hashed_password FROM users WHERE username = 'alice'")

    response = await client.post(
        "/auth/reset-password", json={"token": make_token(alice), "password": NEW_PASSWORD}
    )

    assert response.status_code == 400
    assert response.json() == {"detail": "RESET_PASSWORD_BAD_TOKEN"}
    assert await db_scalar("SELECT hashed_password FROM users WHERE username = 'alice'") == before


@pytest.mark.parametrize(
    "password",
    [
        pytest.param("short", id="too-short"),
        pytest.param("x" * 129, id="too-long"),
        pytest.param("ALICE@example.com", id="equals-email"),
        pytest.param("aliceALICE", id="equals-username"),
        pytest.param("long-pass\x00word", id="nul"),
        pytest.param("long-pass\ud800word", id="lone-surrogate"),
    ],
)
async def test_reset_applies_the_password_policy(client, make_account, outbox, db_scalar, password):
    await make_account("aliceALICE", email="alice@example.com")
    token = await request_reset(client, outbox, "alice@example.com")
    before = await db_scalar("SELECT hashed_password FROM users")

    # json.dumps escapes NUL and lone surrogates, so the body is valid ASCII JSON
    body = json.dumps({"token": token, "password": password})
    response = await client.post(
        "/auth/reset-password", content=body.encode(), headers={"content-type": "application/json"}
    )

    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert detail["code"] == "RESET_PASSWORD_INVALID_PASSWORD"
    assert detail["reason"]
    assert await db_scalar("SELECT hashed_password FROM users") == before
    # the token was not spent by the failed attempt
    retry = await client.post(
        "/auth/reset-password", json={"token": token, "password": NEW_PASSWORD}
    )
    assert retry.status_code == 200, retry.text


# -- e-mail verification --


async def test_verification_flow(client, alice, outbox, db_scalar):
    requested = await client.post("/auth/request-verify-token", json={"email": "alice@example.com"})
    assert requested.status_code == 202
    [message] = outbox
    assert message.to == "alice@example.com"
    assert "/auth/verify" in message.body

    verified = await client.post("/auth/verify", json={"token": outbox.token()})

    assert verified.status_code == 200, verified.text
    assert verified.json()["id"] == alice.id
    assert verified.json()["is_verified"] is True
    assert await db_scalar("SELECT is_verified FROM users") in (True, 1)

    again = await client.post("/auth/verify", json={"token": outbox.token()})
    assert again.status_code == 400
    assert again.json() == {"detail": "VERIFY_USER_ALREADY_VERIFIED"}


async def test_verify_token_is_void_after_an_email_change(client, alice, outbox, db_scalar):
    await client.post("/auth/request-verify-token", json={"email": "alice@example.com"})
    token = outbox.token()
    changed = await client.patch(
        "/users/me",
        headers=alice.headers,
        json={"email": "alice.new@example.com", "current_password": PASSWORD},
    )
    assert changed.status_code == 200, changed.text

    response = await client.post("/auth/verify", json={"token": token})

    assert response.status_code == 400
    assert response.json() == {"detail": "VERIFY_USER_BAD_TOKEN"}
    assert await db_scalar("SELECT is_verified FROM users") in (False, 0)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("garbage", id="garbage"),
        pytest.param(None, id="access-token"),
    ],
)
async def test_verify_with_a_bad_token_is_400(client, alice, db_scalar, token):
    response = await client.post("/auth/verify", json={"token": token or alice.token})

    assert response.status_code == 400
    assert response.json() == {"detail": "VERIFY_USER_BAD_TOKEN"}
    assert await db_scalar("SELECT is_verified FROM users") in (False, 0)


async def test_default_sender_logs_the_message(client, alice, caplog):
    # without an override the development sender writes the message to the log
    with caplog.at_level("INFO", logger="features.auth.email"):
        response = await client.post("/auth/forgot-password", json={"email": "alice@example.com"})
    assert response.status_code == 202
    [record] = [r for r in caplog.records if r.name == "features.auth.email"]
    assert "alice@example.com" in record.getMessage()
    assert TOKEN.search(record.getMessage())

"""Logout revokes its token; logout-all, a password change and deactivation revoke them all."""

import asyncio
from datetime import UTC, datetime

import jwt
import pytest
from sqlalchemy import update

from core.config import get_settings
from features.auth.models import RevokedToken
from features.auth.tokens import ACCESS_AUDIENCE


@pytest.fixture
def log_in(login):
    """`await log_in(username, password=...)`: bearer headers from a real login."""

    async def headers(username: str, *password: str) -> dict[str, str]:
        response = await login(username, *password)
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    return headers


def assert_refused(response) -> None:
    assert response.status_code == 401
    assert response.json() == {"detail": "Unauthorized"}
    assert response.headers["www-authenticate"] == "Bearer"


async def test_logout_revokes_that_token_only(client, alice, db_scalar, log_in):
    first = await log_in("alice")
    second = await log_in("alice")

    response = await client.post("/auth/jwt/logout", headers=first)

    assert response.status_code == 204
    assert response.content == b""
    assert_refused(await client.get("/users/me", headers=first))
    assert_refused(await client.post("/auth/jwt/logout", headers=first))
    assert (await client.get("/users/me", headers=second)).status_code == 200
    assert await db_scalar("SELECT count(*) FROM revoked_tokens") == 1


async def test_logout_all_revokes_every_earlier_token_but_not_later_ones(client, alice, log_in):
    earlier = [await log_in("alice") for _ in range(2)]

    response = await client.post("/auth/jwt/logout-all", headers=earlier[0])
    later = await log_in("alice")

    assert response.status_code == 204
    for headers in earlier:
        assert_refused(await client.get("/users/me", headers=headers))
    me = await client.get("/users/me", headers=later)
    assert me.status_code == 200
    assert me.json()["username"] == "alice"


async def test_logout_all_leaves_other_users_signed_in(client, alice, bob):
    await client.post("/auth/jwt/logout-all", headers=alice.headers)

    assert_refused(await client.get("/users/me", headers=alice.headers))
    assert (await client.get("/users/me", headers=bob.headers)).status_code == 200


async def test_password_change_revokes_earlier_tokens(client, alice, log_in):
    response = await client.patch(
        "/users/me",
        headers=alice.headers,
        json={"password": "a-brand-new-secret", "current_password": alice.password},
    )

    assert response.status_code == 200, response.text
    assert_refused(await client.get("/users/me", headers=alice.headers))
    fresh = await log_in("alice", "a-brand-new-secret")
    assert (await client.get("/users/me", headers=fresh)).status_code == 200


async def test_profile_change_keeps_tokens(client, alice):
    response = await client.patch("/users/me", headers=alice.headers, json={"full_name": "A. L."})

    assert response.status_code == 200
    assert (await client.get("/users/me", headers=alice.headers)).status_code == 200


async def test_deactivation_revokes_tokens_even_after_reactivation(client, alice, admin, log_in):
    deactivate = await client.patch(
        f"/users/{alice.id}", headers=admin.headers, json={"is_active": False}
    )
    reactivate = await client.patch(
        f"/users/{alice.id}", headers=admin.headers, json={"is_active": True}
    )

    assert deactivate.status_code == 200
    assert reactivate.status_code == 200
    assert_refused(await client.get("/users/me", headers=alice.headers))
    assert (await client.get("/users/me", headers=await log_in("alice"))).status_code == 200


async def test_logout_needs_a_valid_token(client):
    assert_refused(await client.post("/auth/jwt/logout"))
    assert_refused(await client.post("/auth/jwt/logout-all"))
    assert_refused(
        await client.post("/auth/jwt/logout", headers={"Authorization": "Bearer not-a-jwt"})
    )


async def test_tokens_without_an_id_are_refused(client, alice):
    # signed with the right key and audience, but not issued by us: no jti
    claims = {"sub": alice.id, "aud": ACCESS_AUDIENCE[0], "iat": 1}
    token = jwt.encode(claims, get_settings().secret_key, algorithm="HS256")

    assert_refused(await client.get("/users/me", headers={"Authorization": f"Bearer {token}"}))


async def test_expired_revocations_are_pruned_at_the_next_logout(
    client, alice, db_scalar, db_execute, log_in
):
    await client.post("/auth/jwt/logout", headers=await log_in("alice"))

    await db_execute(update(RevokedToken).values(expires_at=datetime(2000, 1, 1, tzinfo=UTC)))

    await client.post("/auth/jwt/logout", headers=await log_in("alice"))

    assert await db_scalar("SELECT count(*) FROM revoked_tokens") == 1


async def test_revocation_costs_no_extra_statement(client, alice, count_statements):
    with count_statements() as counter:
        response = await client.get("/users/me", headers=alice.headers)

    assert response.status_code == 200
    user_lookups = [s for s in counter.statements if "FROM users" in s]
    assert len(user_lookups) == 1
    assert "revoked_tokens" in user_lookups[0]


@pytest.mark.commits
async def test_concurrent_logouts_with_one_token_never_conflict(client, alice, log_in, db_scalar):
    headers = await log_in("alice")

    responses = await asyncio.gather(
        *(client.post("/auth/jwt/logout", headers=headers) for _ in range(5))
    )

    assert {r.status_code for r in responses} <= {204, 401}
    assert 204 in {r.status_code for r in responses}
    assert await db_scalar("SELECT count(*) FROM revoked_tokens") == 1

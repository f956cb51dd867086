"""Too many failed logins answer 429 (with Retry-After) before any password is checked."""

import pytest

from core.config import get_settings
from core.errors import TooManyRequests
from features.auth.throttle import LoginThrottle, get_login_throttle


@pytest.fixture
def per_address() -> int:
    return get_settings().login_max_failures_per_address


async def fail(login, username: str, times: int) -> list[int]:
    return [(await login(username, "wrong-password")).status_code for _ in range(times)]


async def test_failures_past_the_limit_answer_429_even_with_the_right_password(
    login, alice, per_address
):
    statuses = await fail(login, "alice", per_address)
    blocked = await login("alice")

    assert statuses == [400] * per_address
    assert blocked.status_code == 429
    assert blocked.json() == {"detail": "LOGIN_TOO_MANY_ATTEMPTS"}
    assert 1 <= int(blocked.headers["retry-after"]) <= get_settings().login_failure_window_seconds


async def test_the_count_ignores_case_and_spans_unknown_logins(login, per_address):
    await fail(login, "Ghost", per_address)

    blocked = await login("GHOST", "wrong-password")

    assert blocked.status_code == 429


async def test_other_logins_are_not_throttled(login, alice, bob, per_address):
    await fail(login, "alice", per_address)

    response = await login("bob")

    assert response.status_code == 200
    assert response.json()["token_type"] == "bearer"


async def test_a_success_clears_the_address_count(login, alice, per_address):
    await fail(login, "alice", per_address - 1)
    assert (await login("alice")).status_code == 200

    statuses = await fail(login, "alice", per_address - 1)

    assert statuses == [400] * (per_address - 1)
    assert (await login("alice")).status_code == 200


async def test_the_per_login_bound_holds_across_addresses():
    throttle = LoginThrottle(
        storage_url="async+memory://",
        window_seconds=60,
        max_failures_per_address=3,
        max_failures_per_login=4,
    )
    for address in ("10.0.0.1", "10.0.0.2"):
        for _ in range(2):
            await throttle.ensure_allowed("alice", address)
            await throttle.record_failure("alice", address)

    with pytest.raises(TooManyRequests) as refused:
        await throttle.ensure_allowed("alice", "10.0.0.3")
    assert refused.value.status_code == 429


async def test_a_throttled_login_checks_no_password(login, alice, per_address, monkeypatch):
    await fail(login, "alice", per_address)
    manager_calls = []
    monkeypatch.setattr(
        "features.auth.manager.UserManager.authenticate",
        lambda self, credentials: manager_calls.append(credentials),
    )

    response = await login("alice")

    assert response.status_code == 429
    assert manager_calls == []


def test_the_throttle_is_one_per_process():
    assert get_login_throttle() is get_login_throttle()


async def test_an_overlong_login_is_refused_before_throttling(login, monkeypatch):
    recorded = []
    monkeypatch.setattr(LoginThrottle, "record_failure", lambda *args: recorded.append(args))

    response = await login("x" * 10_000, "whatever-password")

    assert response.status_code == 400
    assert response.json() == {"detail": "LOGIN_BAD_CREDENTIALS"}
    assert recorded == []


async def test_guesses_at_the_current_password_are_throttled(client, alice, per_address):
    def attempt(current_password):
        return client.patch(
            "/users/me",
            headers=alice.headers,
            json={"email": "new@example.com", "current_password": current_password},
        )

    statuses = [(await attempt(f"guess-{n}")).status_code for n in range(per_address)]
    blocked = await attempt(alice.password)

    assert statuses == [400] * per_address
    assert blocked.status_code == 429
    assert blocked.json() == {"detail": "LOGIN_TOO_MANY_ATTEMPTS"}
    me = await client.get("/users/me", headers=alice.headers)
    assert me.json()["email"] == "alice@example.com"

"""Password hashing and verification never run on the event loop's thread.

argon2 costs tens of milliseconds of CPU; on the loop it would stall every other request. The
hasher is wrapped to record the thread each call runs on: the loop runs on the main thread, so
every recorded call must come from another.
"""

import sqlite3
import threading
from dataclasses import dataclass

import pytest
from pwdlib import PasswordHash

from conftest import PASSWORD
from core.db import engine

NEW_PASSWORD = "a-brand-new-password"


@dataclass(frozen=True)
class Call:
    operation: str
    thread: threading.Thread


class HashCalls(list[Call]):
    def operations(self) -> set[str]:
        return {call.operation for call in self}

    def on_the_loop_thread(self) -> list[Call]:
        return [call for call in self if call.thread is threading.main_thread()]


@pytest.fixture
def hash_calls(monkeypatch, make_account) -> HashCalls:
    # make_account first: its shared hash is computed before recording starts
    calls = HashCalls()
    for operation in ("hash", "verify", "verify_and_update"):
        original = getattr(PasswordHash, operation)

        def recording(self, *args, _original=original, _operation=operation, **kwargs):
            calls.append(Call(_operation, threading.current_thread()))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(PasswordHash, operation, recording)
    return calls


def assert_off_the_loop(calls: HashCalls, *expected: str) -> None:
    assert calls.operations() >= set(expected), calls
    assert calls.on_the_loop_thread() == []


def test_the_recorder_sees_calls_on_the_main_thread(hash_calls):
    # the check can fail: a hash made right here, on the main thread, is caught
    PasswordHash.recommended().hash("whatever-password")
    assert len(hash_calls.on_the_loop_thread()) == 1


async def test_register_hashes_off_the_loop(client, hash_calls):
    response = await client.post(
        "/auth/register",
        json={"email": "carol@example.com", "username": "carol", "password": NEW_PASSWORD},
    )
    assert response.status_code == 201, response.text
    assert_off_the_loop(hash_calls, "hash")


@pytest.mark.parametrize(
    ("username", "password", "status"),
    [
        pytest.param("alice", PASSWORD, 200, id="success"),
        pytest.param("alice", "wrong-password", 400, id="wrong-password"),
        pytest.param("nobody", PASSWORD, 400, id="unknown-user"),
    ],
)
async def test_login_verifies_off_the_loop(login, alice, hash_calls, username, password, status):
    hash_calls.clear()
    response = await login(username, password)
    assert response.status_code == status, response.text
    assert len(hash_calls) >= 1
    assert_off_the_loop(hash_calls)


async def test_password_change_hashes_off_the_loop(client, alice, hash_calls):
    hash_calls.clear()
    response = await client.patch(
        "/users/me",
        headers=alice.headers,
        json={"password": NEW_PASSWORD, "current_password": PASSWORD},
    )
    assert response.status_code == 200, response.text
    assert_off_the_loop(hash_calls, "hash")


async def test_email_change_verifies_off_the_loop(client, alice, hash_calls):
    hash_calls.clear()
    response = await client.patch(
        "/users/me",
        headers=alice.headers,
        json={"email": "alice2@example.com", "current_password": PASSWORD},
    )
    assert response.status_code == 200, response.text
    assert_off_the_loop(hash_calls, "verify_and_update")


async def test_admin_password_change_hashes_off_the_loop(client, alice, admin, hash_calls):
    hash_calls.clear()
    response = await client.patch(
        f"/users/{alice.id}", headers=admin.headers, json={"password": NEW_PASSWORD}
    )
    assert response.status_code == 200, response.text
    assert_off_the_loop(hash_calls, "hash")


async def test_forgot_and_reset_password_hash_off_the_loop(client, alice, hash_calls, outbox):
    hash_calls.clear()
    forgot = await client.post("/auth/forgot-password", json={"email": "alice@example.com"})
    assert forgot.status_code == 202
    # the token's password fingerprint is an HMAC: no hash at all, so no timing oracle
    assert list(hash_calls) == []

    token = outbox[0].body.rsplit(" ", 1)[-1]
    hash_calls.clear()
    reset = await client.post(
        "/auth/reset-password", json={"token": token, "password": NEW_PASSWORD}
    )
    assert reset.status_code == 200, reset.text
    assert_off_the_loop(hash_calls, "hash")


@pytest.mark.skipif(engine.dialect.name != "sqlite", reason="SQLite's database-wide write lock")
@pytest.mark.commits
async def test_no_write_lock_is_held_while_hashing(client, alice, monkeypatch):
    # Every SQLite transaction here starts with BEGIN IMMEDIATE; a hash inside one would stall
    # every other request for its whole duration. Probe the lock from the hashing thread.
    path = engine.url.database
    lock_free = []
    verify = PasswordHash.verify_and_update

    def probing(self, *args, **kwargs):
        probe = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            lock_free.append(True)
        except sqlite3.OperationalError:
            lock_free.append(False)
        finally:
            probe.close()
        return verify(self, *args, **kwargs)

    monkeypatch.setattr(PasswordHash, "verify_and_update", probing)
    login = await client.post(
        "/auth/jwt/login", data={"username": "alice", "password": alice.password}
    )
    change = await client.patch(
        "/users/me",
        headers=alice.headers,
        json={"email": "alice2@example.com", "current_password": alice.password},
    )

    assert login.status_code == 200
    assert change.status_code == 200, change.text
    assert lock_free == [True, True]

"""Two server processes on one PostgreSQL and one Redis (database index 2), as two workers or
two hosts run: what one of them did holds on the other. HTTP behaviour only (logout,
logout-all, wrong logins), so it holds whatever way tokens and the throttle are kept."""

import os
import shutil
import socket
import sys

import httpx
import pytest

from core.config import get_settings
from tests.reliability.pg import postgres_only
from tests.reliability.served import serve

REDIS_URL = "redis://127.0.0.1:6379/2"


def _redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _flush_redis_db_2() -> None:
    with socket.create_connection(("127.0.0.1", 6379), timeout=2) as connection:
        connection.sendall(b"SELECT 2\r\nFLUSHDB\r\n")
        answer = b""
        while answer.count(b"\r\n") < 2:
            answer += connection.recv(64)
        assert answer == b"+OK\r\n+OK\r\n", answer


pytestmark = [
    *postgres_only,
    pytest.mark.skipif(not _redis_answers(), reason="needs Redis on 127.0.0.1:6379"),
]


@pytest.fixture
def two_servers(tmp_path):
    _flush_redis_db_2()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = {
        "RATE_LIMIT_STORAGE_URL": f"async+{REDIS_URL}",
        "REDIS_URL": REDIS_URL,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),  # shared, as serve.py sets it up
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "main:app",
        "--port",
        "{port}",
        "--no-access-log",
        "--http",
        "core.limits:BoundedHttpToolsProtocol",
    ]
    with (
        serve(tmp_path, command=command, env=env, name="a") as a,
        serve(tmp_path, command=command, env=env, name="b") as b,
    ):
        yield a, b
    _flush_redis_db_2()
    shutil.rmtree(metrics_dir, ignore_errors=True)


def _api(served) -> httpx.Client:
    return httpx.Client(base_url=f"{served.url}/api/v1", timeout=30)


def _login(client: httpx.Client, username: str, password: str) -> httpx.Response:
    return client.post("/auth/jwt/login", data={"username": username, "password": password})


def test_what_one_process_did_holds_on_the_other(two_servers):
    a, b = (_api(served) for served in two_servers)
    password = "two-processes-one-truth"
    registered = a.post(
        "/auth/register",
        json={"email": "w@example.com", "username": "worker", "password": password},
    )
    assert registered.status_code == 201, registered.text

    # logout through A: B refuses that token
    token = _login(a, "worker", password).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert b.get("/users/me", headers=bearer).status_code == 200
    assert a.post("/auth/jwt/logout", headers=bearer).status_code == 204
    assert b.get("/users/me", headers=bearer).status_code == 401

    # logout-all through B: A refuses every earlier token
    first = _login(b, "worker", password).json()["access_token"]
    second = _login(a, "worker", password).json()["access_token"]
    assert a.get("/users/me", headers={"Authorization": f"Bearer {second}"}).status_code == 200
    logout_all = b.post("/auth/jwt/logout-all", headers={"Authorization": f"Bearer {first}"})
    assert logout_all.status_code == 204
    assert a.get("/users/me", headers={"Authorization": f"Bearer {second}"}).status_code == 401

    # wrong logins spread over both are counted together
    limit = get_settings().login_max_failures_per_address
    statuses = [
        _login((a, b)[n % 2], "worker", "wrong-password-guess").status_code
        for n in range(limit + 2)
    ]
    assert statuses == [400] * limit + [429, 429], statuses
    assert _login(b, "worker", password).status_code == 429  # even the right one now waits

    # /metrics on either one sums both processes
    for client in (a, b):
        client.close()
    counts = []
    for served in two_servers:
        text = httpx.get(f"{served.url}/metrics").text
        counts.append(
            sum(
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith(
                    'http_requests_total{method="POST",route="/api/v1/auth/jwt/login"'
                )
            )
        )
    assert counts == [float(3 + limit + 3)] * 2, counts
    assert os.environ.get("PROMETHEUS_MULTIPROC_DIR") is None  # the test process stays apart

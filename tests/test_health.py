"""Liveness and readiness probes (outside the /api/v1 prefix)."""

import asyncio
import signal
import threading

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import create_async_engine

from core import health


async def test_liveness(client):
    response = await client.get("http://test/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readiness_when_the_database_answers(client):
    response = await client.get("http://test/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


@pytest.fixture
async def database_down(monkeypatch, tmp_path):
    """Point the probe at a database that cannot be opened (its directory does not exist)."""
    unreachable = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'app.db'}")
    monkeypatch.setattr(health, "engine", unreachable)
    yield
    await unreachable.dispose()


async def test_readiness_when_the_database_is_down(client, database_down, caplog):
    response = await client.get("http://test/health/ready")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unavailable"}
    assert "missing" not in response.text
    assert any(record.name == "core.health" for record in caplog.records)

    # liveness does not depend on the database
    assert (await client.get("http://test/health")).status_code == 200


async def test_health_is_not_under_the_api_prefix(client):
    response = await client.get("/health")
    assert response.status_code == 404


# -- the registry of backing services --


@pytest.fixture
def checks(app):
    """The app's registered checks, restored after the test."""
    registered = dict(app.state.health_checks)
    yield app.state.health_checks
    app.state.health_checks.clear()
    app.state.health_checks.update(registered)


async def test_readiness_names_every_registered_service(client, app, checks):
    async def redis_ok() -> None:
        return None

    health.register_check(app, "redis", redis_ok)
    response = await client.get("http://test/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


@pytest.mark.parametrize("how", ["raises", "returns-false", "hangs"])
async def test_readiness_names_the_failing_service(client, app, checks, how):
    async def redis_down() -> bool:
        if how == "raises":
            raise ConnectionError("redis at 10.1.1.1:6379 refused")
        if how == "hangs":  # given up on after CHECK_TIMEOUT_SECONDS
            await asyncio.sleep(health.CHECK_TIMEOUT_SECONDS * 20)
        return False

    health.register_check(app, "redis", redis_down)
    response = await client.get("http://test/health/ready")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "ok", "redis": "unavailable"}
    assert response.headers["retry-after"]
    assert "10.1.1.1" not in response.text


async def test_a_name_is_registered_once(app, checks):
    async def one() -> None: ...

    async def other() -> None: ...

    health.register_check(app, "cache", one)
    health.register_check(app, "cache", one)  # the same check again: harmless
    with pytest.raises(ValueError, match="cache"):
        health.register_check(app, "cache", other)


async def test_readiness_while_the_database_is_down_carries_retry_after(client, database_down):
    response = await client.get("http://test/health/ready")
    assert response.status_code == 503
    assert response.headers["retry-after"]


# -- draining on SIGTERM --


def _probe_app() -> FastAPI:
    app = FastAPI()
    app.include_router(health.router)
    health.register_check(app, "database", health.database_check)
    return app


async def test_readiness_is_503_once_draining():
    app = _probe_app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/health/ready")).status_code == 200
        health.start_draining(app)
        response = await client.get("/health/ready")
        assert response.status_code == 503
        assert response.json() == {"status": "unavailable", "database": "ok"}
        assert response.headers["retry-after"]
        # liveness stays up: the process is alive while it drains
        assert (await client.get("/health")).status_code == 200


def test_a_stop_signal_flips_readiness_and_still_reaches_the_servers_handler():
    app = _probe_app()
    received = []
    previous = signal.signal(signal.SIGUSR1, lambda sig, frame: received.append(sig))
    try:
        health.drain_on_signals(app, signals=(signal.SIGUSR1,))
        health.drain_on_signals(app, signals=(signal.SIGUSR1,))  # chained once only
        assert not health.is_draining(app)
        signal.raise_signal(signal.SIGUSR1)
        assert health.is_draining(app)
        assert received == [signal.SIGUSR1]
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_outside_the_main_thread_nothing_is_installed():
    app = _probe_app()
    before = signal.getsignal(signal.SIGUSR2)
    thread = threading.Thread(
        target=health.drain_on_signals, args=(app,), kwargs={"signals": (signal.SIGUSR2,)}
    )
    thread.start()
    thread.join()
    assert signal.getsignal(signal.SIGUSR2) is before

"""Liveness and readiness probes (outside the /api/v1 prefix)."""

import pytest
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

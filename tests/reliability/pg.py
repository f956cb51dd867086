"""PostgreSQL administration for the reliability tests: terminate the test database's
backends, make it refuse connections, and always let it accept them again."""

import contextlib
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from core.db import engine

on_postgres = pytest.mark.skipif(
    engine.dialect.name != "postgresql",
    reason="needs PostgreSQL (set TEST_DATABASE_URL): backends, connection refusal, row locks",
)
postgres_only = [pytest.mark.postgres_only, pytest.mark.commits, on_postgres]


def database_name() -> str:
    name = engine.url.database
    assert name, "no database name in the test URL"
    return name


@contextlib.asynccontextmanager
async def admin() -> AsyncIterator[asyncpg.Connection]:
    """A superuser connection to the `postgres` database (not the one we disturb)."""
    url = make_url(engine.url)
    connection = await asyncpg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password,
        database="postgres",
    )
    try:
        yield connection
    finally:
        await connection.close()


async def terminate_backends(connection: asyncpg.Connection) -> int:
    return await connection.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE datname = $1 AND pid <> pg_backend_pid()",
        database_name(),
    )


@contextlib.asynccontextmanager
async def refusing_connections(connection: asyncpg.Connection) -> AsyncIterator[None]:
    """The test database refuses new connections and has none open; restored in any case."""
    quoted = '"' + database_name().replace('"', '""') + '"'
    try:
        await connection.execute(f"ALTER DATABASE {quoted} WITH ALLOW_CONNECTIONS false")
        await terminate_backends(connection)
        yield
    finally:
        await connection.execute(f"ALTER DATABASE {quoted} WITH ALLOW_CONNECTIONS true")

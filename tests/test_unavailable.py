"""Every failure of the database is a 503 with `Retry-After` and a generic detail, by class."""

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from core.codes import ErrorCode
from core.config import get_settings
from core.errors import ServiceUnavailable, describe_failure, register_error_handlers

SECRET = "db-7.internal password=hunter2"

# What asyncpg raises while connecting (SQLAlchemy does not wrap these), and what SQLAlchemy
# raises for a dropped connection, a timeout or an exhausted pool.
FAILURES = [
    asyncpg.CannotConnectNowError(f"the database system is shutting down {SECRET}"),
    asyncpg.TooManyConnectionsError(f"sorry, too many clients already {SECRET}"),
    asyncpg.ObjectNotInPrerequisiteStateError(f"database is not accepting connections {SECRET}"),
    asyncpg.InvalidCatalogNameError(f'database "items" does not exist {SECRET}'),
    asyncpg.ConnectionDoesNotExistError(f"connection was closed {SECRET}"),
    asyncpg.AdminShutdownError(f"terminating connection due to administrator command {SECRET}"),
    asyncpg.exceptions.CrashShutdownError(f"crash {SECRET}"),
    asyncpg.InvalidPasswordError(f"password authentication failed {SECRET}"),
    asyncpg.exceptions.ConnectionFailureError(f"connection failure {SECRET}"),
    asyncpg.InterfaceError(f"connection is closed {SECRET}"),
    ConnectionRefusedError(f"connect call failed {SECRET}"),
    ConnectionResetError(f"reset {SECRET}"),
    TimeoutError(f"connect timeout {SECRET}"),
    OperationalError(f"SELECT {SECRET}", {"password": SECRET}, Exception(SECRET)),
    InterfaceError(f"SELECT {SECRET}", {}, Exception(SECRET)),
    DBAPIError(
        f"UPDATE items {SECRET}",
        {},
        asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
    ),
    DBAPIError(
        f"UPDATE items {SECRET}",
        {},
        asyncpg.exceptions.LockNotAvailableError("canceling statement due to lock timeout"),
    ),
    PoolTimeoutError(f"QueuePool limit of size 10 overflow 10 reached {SECRET}"),
    ServiceUnavailable(ErrorCode.SERVICE_UNAVAILABLE),
]


def _app(error: Exception) -> FastAPI:
    app = FastAPI()
    register_error_handlers(app)

    @app.get("/fail")
    async def fail() -> None:
        raise error

    return app


@pytest.mark.parametrize("error", FAILURES, ids=lambda e: type(e).__name__)
async def test_database_failures_are_503_with_retry_after(error, caplog):
    transport = httpx.ASGITransport(app=_app(error), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/fail")
    assert response.status_code == 503
    assert response.json() == {"detail": ErrorCode.SERVICE_UNAVAILABLE.value}
    assert response.headers["retry-after"] == str(get_settings().retry_after_seconds)
    assert "hunter2" not in response.text
    assert "internal" not in response.text


def test_a_failure_is_logged_without_the_statement_or_its_parameters():
    error = OperationalError("UPDATE users SET hashed_password=$1", ("argon2-hash",), OSError("x"))
    line = describe_failure(error)
    assert line == "OperationalError (OSError): x"
    assert "argon2-hash" not in line
    assert "UPDATE" not in line


async def test_an_unexpected_error_is_still_500(caplog):
    transport = httpx.ASGITransport(app=_app(KeyError("bug")), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/fail")
    assert response.status_code == 500
    assert "retry-after" not in response.headers

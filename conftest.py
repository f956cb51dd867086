"""Test harness shared by every feature's tests and tests/.

The database is chosen by TEST_DATABASE_URL (default: a throwaway SQLite file). The schema is
built by the real migrations once per run.

Each test runs inside one database transaction that is rolled back at its end: the app's
sessions join it through SAVEPOINTs, so their commits are real to them and leave nothing behind.
A test that needs real commits — concurrent requests, other connections — is marked
`commits`: it runs on the real engine and starts and ends with empty tables.
"""

import os
import tempfile
from pathlib import Path

# The settings are read once, on first use: point them at the test database before any import.
_SCRATCH = Path(tempfile.mkdtemp(prefix="items-api-tests-"))
os.environ["DATABASE_URL"] = (
    os.environ.get("TEST_DATABASE_URL") or f"sqlite+aiosqlite:///{_SCRATCH / 'test.db'}"
)
os.environ["ENVIRONMENT"] = "development"
os.environ["SECRET_KEY"] = "test-secret-key-that-is-long-enough-for-hs256"

import uuid  # noqa: E402
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
import pytest  # noqa: E402
from alembic.config import Config  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from fastapi_users.password import PasswordHelper  # noqa: E402
from sqlalchemy import event, text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncConnection  # noqa: E402
from sqlmodel import SQLModel  # noqa: E402

from alembic import command  # noqa: E402
from core.db import engine, read_session_factory, session_factory  # noqa: E402
from features.auth.throttle import get_login_throttle  # noqa: E402
from features.auth.tokens import issue_access_token  # noqa: E402
from features.users.models import User  # noqa: E402
from main import create_app  # noqa: E402

ROOT = Path(__file__).parent
PASSWORD = "correct-horse-battery"
# The fields of a UserRead, as /auth/register and /users/me answer them.
USER_READ_FIELDS = {
    "id",
    "email",
    "username",
    "full_name",
    "is_active",
    "is_superuser",
    "is_verified",
    "created_at",
    "updated_at",
}


def alembic_config(database_url: str | None = None) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["configure_logger"] = False
    if database_url:
        config.attributes["database_url"] = database_url
    return config


@pytest.fixture(scope="session", autouse=True)
def migrated_database() -> None:
    """The schema, built by the migrations themselves (never create_all)."""
    command.upgrade(alembic_config(), "head")


@pytest.fixture(scope="session")
async def _engine_lifetime() -> AsyncIterator[None]:
    yield
    await engine.dispose()


async def _empty_tables() -> None:
    async with engine.begin() as connection:
        for table in reversed(SQLModel.metadata.sorted_tables):
            await connection.execute(table.delete())


SESSION_FACTORIES = (session_factory, read_session_factory)
# Transaction control is not the work a request does: the counts leave it out (it differs
# between a test's SAVEPOINTs and production's BEGIN/COMMIT, and between the databases).
TRANSACTION_CONTROL = ("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT")


@pytest.fixture(autouse=True)
async def db_connection(
    request: pytest.FixtureRequest, _engine_lifetime: None
) -> AsyncIterator[AsyncConnection | None]:
    """The test's own connection, in a transaction rolled back at the end (None for a test
    marked `commits`, which gets empty tables before and after instead)."""
    if request.node.get_closest_marker("commits"):
        await _empty_tables()
        yield None
        await _empty_tables()
        return
    async with engine.connect() as connection:
        await connection.begin()
        configured = [dict(factory.kw) for factory in SESSION_FACTORIES]
        for factory in SESSION_FACTORIES:
            factory.configure(bind=connection, join_transaction_mode="create_savepoint")
        try:
            yield connection
        finally:
            for factory, kw in zip(SESSION_FACTORIES, configured, strict=True):
                factory.kw.clear()
                factory.kw.update(kw)
            await connection.rollback()


@pytest.fixture(autouse=True)
async def fresh_login_throttle() -> None:
    """Failed-login counts from one test must not throttle another."""
    await get_login_throttle().storage.reset()


@pytest.fixture(scope="session")
def app() -> FastAPI:
    return create_app()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as client:
        yield client


@pytest.fixture(scope="session")
def password_hash() -> str:
    """One argon2 hash for every fixture user: hashing costs ~80 ms, tests need it once."""
    return PasswordHelper().hash(PASSWORD)


@dataclass
class Account:
    """A user in the database and a valid bearer token for them."""

    user: User
    token: str
    password: str = PASSWORD
    headers: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.headers = {"Authorization": f"Bearer {self.token}"}

    @property
    def id(self) -> str:
        return str(self.user.id)


AccountFactory = Callable[..., Awaitable[Account]]


@pytest.fixture
def make_account(password_hash: str) -> AccountFactory:
    """Create a user straight in the database and issue a token for them."""

    async def make(
        username: str | None = None,
        *,
        email: str | None = None,
        is_superuser: bool = False,
        is_active: bool = True,
        full_name: str | None = None,
    ) -> Account:
        username = username or f"user-{uuid.uuid4().hex[:8]}"
        user = User(
            email=email or f"{username}@example.com",
            username=username,
            full_name=full_name,
            hashed_password=password_hash,
            is_superuser=is_superuser,
            is_active=is_active,
        )
        async with session_factory() as session:
            session.add(user)
            await session.commit()
        token = issue_access_token(user)
        return Account(user=user, token=token)

    return make


@pytest.fixture
async def alice(make_account: AccountFactory) -> Account:
    return await make_account("alice", full_name="Alice Liddell")


@pytest.fixture
async def bob(make_account: AccountFactory) -> Account:
    return await make_account("bob")


@pytest.fixture
async def admin(make_account: AccountFactory) -> Account:
    return await make_account("admin", is_superuser=True)


ItemFactory = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def create_item(client: httpx.AsyncClient) -> ItemFactory:
    """`await create_item(account, title="A thing", **fields)`: POST /items, the item's JSON."""

    async def create(account: Account, title: str = "A thing", **fields: Any) -> dict[str, Any]:
        body = {"title": title, **fields}
        response = await client.post("/items", json=body, headers=account.headers)
        assert response.status_code == 201, response.text
        return response.json()

    return create


@pytest.fixture
def login(client: httpx.AsyncClient) -> Callable[..., Awaitable[httpx.Response]]:
    """`await login(username, password=PASSWORD)`: the response of POST /auth/jwt/login."""

    async def post(username: str, password: str = PASSWORD) -> httpx.Response:
        data = {"username": username, "password": password}
        return await client.post("/auth/jwt/login", data=data)

    return post


class StatementCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def count_statements() -> Callable[[], Any]:
    """`with count_statements() as counter:` records every SQL statement sent meanwhile."""

    @contextmanager
    def counting() -> Iterator[StatementCounter]:
        counter = StatementCounter()

        def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if not statement.lstrip().upper().startswith(TRANSACTION_CONTROL):
                counter.statements.append(statement)

        event.listen(engine.sync_engine, "before_cursor_execute", record)
        try:
            yield counter
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", record)

    return counting


@pytest.fixture
def is_postgres() -> bool:
    return engine.dialect.name == "postgresql"


@pytest.fixture
def db_execute(db_connection: AsyncConnection | None) -> Callable[..., Awaitable[Any]]:
    """`await db_execute(statement_or_sql, **params)`: run it straight on the database (in
    the test's transaction, or committed at once for a test marked `commits`)."""

    async def execute(statement: Any, **params: Any) -> Any:
        if isinstance(statement, str):
            statement = text(statement)
        if db_connection is not None:
            return await db_connection.execute(statement, params)
        async with engine.begin() as connection:
            return await connection.execute(statement, params)

    return execute


@pytest.fixture
def db_scalar(db_execute: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """`await db_scalar(sql, **params)`: one value read straight from the database."""

    async def read(sql: str, **params: Any) -> Any:
        return (await db_execute(sql, **params)).scalar()

    return read


@pytest.fixture
def counts_match_items(db_execute: Callable[..., Awaitable[Any]]) -> Callable[[], Awaitable[None]]:
    """`await counts_match_items()`: the maintained item counts (features/items/counts.py)
    equal a real count of the items table, per owner and in all."""

    async def check() -> None:
        public = "sum(CASE WHEN is_public THEN 1 ELSE 0 END)"
        by_owner = await db_execute(
            f"SELECT owner_id, count(*), {public} FROM items GROUP BY owner_id"  # noqa: S608
        )
        kept = await db_execute("SELECT owner_id, total, public FROM item_counts WHERE total <> 0")
        assert sorted(map(tuple, kept)) == sorted(map(tuple, by_owner))
        totals = (await db_execute("SELECT sum(total), sum(public) FROM item_totals")).one()
        real = (await db_execute(f"SELECT count(*), {public} FROM items")).one()  # noqa: S608
        assert tuple(int(n or 0) for n in totals) == tuple(int(n or 0) for n in real)

    return check

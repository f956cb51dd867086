"""The migrations build exactly the models' schema, and take it all down again.

They run on a database of their own (a temp SQLite file, or a fresh PostgreSQL database next to
TEST_DATABASE_URL), never on the one the suite uses.
"""

import asyncio
import importlib
import os
import pkgutil
import uuid
from collections.abc import AsyncIterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, make_url, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import SQLModel

import features
from alembic import command
from conftest import alembic_config

CASE_INSENSITIVE_INDEXES = {"uq_users_email_lower", "uq_users_username_lower"}


def _import_every_model() -> None:
    """Load every feature's models, so the metadata holds every table autogenerate compares."""
    for module in pkgutil.iter_modules(features.__path__):
        if module.ispkg:
            try:
                importlib.import_module(f"features.{module.name}.models")
            except ModuleNotFoundError as error:
                if error.name != f"features.{module.name}.models":
                    raise


@pytest.fixture
async def fresh_database_url(tmp_path) -> AsyncIterator[str]:
    suite_url = os.environ.get("TEST_DATABASE_URL")
    if not suite_url:
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
        return
    url = make_url(suite_url)
    name = f"migrations_{uuid.uuid4().hex[:12]}"
    maintenance = create_async_engine(
        url.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=pool.NullPool
    )
    async with maintenance.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        async with maintenance.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await maintenance.dispose()


@pytest.fixture
async def fresh_engine(fresh_database_url) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(fresh_database_url, poolclass=pool.NullPool)
    yield engine
    await engine.dispose()


def _schema_differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, SQLModel.metadata)


def _table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def _index_names(engine: AsyncEngine) -> set[str]:
    # SQLAlchemy's inspector skips expression indexes on SQLite: read the catalogs instead
    query = (
        "SELECT indexname FROM pg_indexes WHERE tablename = 'users'"
        if engine.dialect.name == "postgresql"
        else "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'users'"
    )
    async with engine.connect() as connection:
        return set((await connection.execute(text(query))).scalars())


async def _insert_user(engine: AsyncEngine, email: str, username: str) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO users (id, email, username, hashed_password, is_active,"
                " is_superuser, is_verified) VALUES (:id, :email, :username, 'x', :t, :f, :f)"
            ),
            {"id": uuid.uuid4().hex, "email": email, "username": username, "t": True, "f": False},
        )


# SQLite cannot reflect expression indexes: SQLAlchemy says so and autogenerate skips them there.
@pytest.mark.filterwarnings(
    "ignore:autogenerate skipping metadata-specified expression-based index:UserWarning",
    "ignore:Skipped unsupported reflection of expression-based index:sqlalchemy.exc.SAWarning",
)
async def test_upgrade_matches_the_models_and_downgrade_removes_everything(
    fresh_database_url, fresh_engine
):
    _import_every_model()
    config = alembic_config(fresh_database_url)

    # alembic's env.py calls asyncio.run itself: give it a thread with no running loop
    await asyncio.to_thread(command.upgrade, config, "head")

    async with fresh_engine.connect() as connection:
        differences = await connection.run_sync(_schema_differences)
        tables = await connection.run_sync(_table_names)
    assert differences == []
    assert tables == {table.name for table in SQLModel.metadata.sorted_tables} | {"alembic_version"}
    assert await _index_names(fresh_engine) >= CASE_INSENSITIVE_INDEXES

    await asyncio.to_thread(command.downgrade, config, "base")

    async with fresh_engine.connect() as connection:
        assert await connection.run_sync(_table_names) == {"alembic_version"}
        version = (await connection.execute(text("SELECT count(*) FROM alembic_version"))).scalar()
    assert version == 0


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param(("a@example.com", "alpha"), ("A@EXAMPLE.COM", "beta"), id="email"),
        pytest.param(("a@example.com", "alpha"), ("b@example.com", "ALPHA"), id="username"),
    ],
)
async def test_migrated_schema_refuses_duplicates_ignoring_case(
    fresh_database_url, fresh_engine, first, second
):
    await asyncio.to_thread(command.upgrade, alembic_config(fresh_database_url), "head")
    await _insert_user(fresh_engine, *first)

    with pytest.raises(IntegrityError):
        await _insert_user(fresh_engine, *second)

    async with fresh_engine.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM users"))).scalar() == 1

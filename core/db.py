"""The async engine, the session dependency and the column types every table shares."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

from fastapi import Depends
from sqlalchemy import DateTime, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from core.config import Settings, get_settings

# Named constraints let Alembic alter them, on SQLite (batch mode) and PostgreSQL alike.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class utcnow(FunctionElement):
    """The database's current UTC time, with sub-second precision on every backend."""

    type = DateTime(timezone=True)
    inherit_cache = True


@compiles(utcnow)
def _utcnow_default(element: utcnow, compiler: Any, **kw: Any) -> str:
    return "CURRENT_TIMESTAMP"


@compiles(utcnow, "postgresql")
def _utcnow_postgresql(element: utcnow, compiler: Any, **kw: Any) -> str:
    # statement time, not transaction start: two writes in one transaction stay ordered
    return "statement_timestamp()"


@compiles(utcnow, "sqlite")
def _utcnow_sqlite(element: utcnow, compiler: Any, **kw: Any) -> str:
    # CURRENT_TIMESTAMP on SQLite has whole seconds only, too coarse to order rows by
    return "(STRFTIME('%Y-%m-%d %H:%M:%f', 'now'))"


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime, also on SQLite, which stores none."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Timestamped(SQLModel):
    """`created_at` and `updated_at`, both set by the database, for a table to inherit."""

    # the timestamps come back with the INSERT/UPDATE (RETURNING), not from a later lazy load
    __mapper_args__: ClassVar[dict[str, Any]] = {"eager_defaults": True}

    created_at: datetime | None = Field(
        default=None,
        nullable=False,
        sa_type=UTCDateTime,
        sa_column_kwargs={"server_default": utcnow()},
    )
    updated_at: datetime | None = Field(
        default=None,
        nullable=False,
        sa_type=UTCDateTime,
        sa_column_kwargs={"server_default": utcnow(), "onupdate": utcnow()},
    )


def insert_or_ignore(session: AsyncSession, table: Any, *, index_elements: list[str]) -> Any:
    """INSERT … ON CONFLICT (index_elements) DO NOTHING, in the session's dialect: a racing
    writer of the same key makes this one skip, never fail."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing(index_elements=index_elements)


def create_engine(settings: Settings) -> AsyncEngine:
    """The application's engine, tuned for its backend."""
    if settings.is_sqlite:
        engine = create_async_engine(
            settings.database_url,
            echo=settings.db_echo,
            # our own BEGIN below replaces the driver's implicit transactions
            connect_args={"isolation_level": None},
        )
        _configure_sqlite(engine)
        return engine
    return create_async_engine(
        settings.database_url,
        echo=settings.db_echo,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_recycle=settings.db_pool_recycle,
        pool_pre_ping=True,
    )


def _configure_sqlite(engine: AsyncEngine) -> None:
    """Foreign keys, WAL and a busy timeout on every connection; write-locking transactions.

    Attached to this engine only: Alembic's engine must not enforce foreign keys, or a batch
    migration that rebuilds a parent table would delete child rows through ON DELETE CASCADE.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A deferred transaction that reads and then writes fails at once with SQLITE_BUSY when
        # another writer got there first; IMMEDIATE takes the write lock up front and waits for it.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


engine = create_engine(get_settings())
session_factory = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def get_session() -> AsyncIterator[AsyncSession]:
    """One session per request: rolled back on any error, always closed."""
    async with session_factory() as session:
        try:
            yield session
        except Exception:
            await session.rollback()
            raise


SessionDep = Annotated[AsyncSession, Depends(get_session)]

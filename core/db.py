"""The async engine, the session dependency and the column types every table shares."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

from fastapi import Depends, Request
from sqlalchemy import Connection, DateTime, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from core.codes import ErrorCode
from core.config import Settings, get_settings
from core.errors import Conflict, ServiceUnavailable, raises

# Named constraints let Alembic alter them, on SQLite (batch mode) and PostgreSQL alike.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class utcnow(FunctionElement[datetime]):
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
            # Writers queue on SQLite's busy timeout while holding a pooled connection:
            # the pool must not give up on them sooner (nor cap the readers below the writers).
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=max(settings.db_pool_timeout, settings.sqlite_busy_timeout_ms / 1000),
        )
        _configure_sqlite(engine, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
        return engine
    return create_async_engine(
        settings.database_url,
        echo=settings.db_echo,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_recycle=settings.db_pool_recycle,
        pool_pre_ping=True,
        connect_args=postgres_connect_args(settings),
    )


def postgres_connect_args(settings: Settings) -> dict[str, Any]:
    """asyncpg's connect arguments: a connect timeout, and server-side statement and lock
    timeouts, so that a stuck lock or a runaway query ends in a 503 instead of a request that
    waits forever (0 turns a timeout off)."""
    return {
        "timeout": settings.db_connect_timeout,
        "server_settings": {
            "statement_timeout": str(settings.db_statement_timeout_ms),
            "lock_timeout": str(settings.db_lock_timeout_ms),
            # a transaction left open by a stalled client does not hold its locks for ever
            "idle_in_transaction_session_timeout": str(
                max(settings.db_statement_timeout_ms * 2, 60_000)
            ),
        },
    }


# An execution option of the sessions that only read: on SQLite their transactions begin
# DEFERRED (no write lock); every other transaction begins IMMEDIATE.
READ_ONLY = "items_api_read_only"
# Set on a connection once its transaction has run anything but a SELECT.
_WROTE = "items_api_wrote"


def _configure_sqlite(engine: AsyncEngine, *, busy_timeout_ms: int) -> None:
    """Foreign keys, WAL and a busy timeout on every connection; write-locking transactions.

    Attached to this engine only: Alembic's engine must not enforce foreign keys, or a batch
    migration that rebuilds a parent table would delete child rows through ON DELETE CASCADE.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # With WAL, readers never wait for each other nor for the writer. A transaction that
        # may write takes the write lock up front (IMMEDIATE) and so waits its turn on the busy
        # timeout: one that read first and then tried to write would fail at once with
        # SQLITE_BUSY whenever another writer had committed meanwhile.
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        connection.info[_WROTE] = False

    @event.listens_for(engine.sync_engine, "after_cursor_execute")
    def _on_execute(
        connection: Connection,
        _cursor: Any,
        _statement: str,
        _params: Any,
        context: Any,
        _many: bool,
    ) -> None:
        if not (context.compiled is not None and context.compiled.statement.is_select):
            connection.info[_WROTE] = True


engine = create_engine(get_settings())
# The same engine for work that only reads (GET, HEAD, OPTIONS; probes): see READ_ONLY.
read_engine = engine.execution_options(**{READ_ONLY: True})
session_factory = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
read_session_factory = async_sessionmaker(read_engine, expire_on_commit=False, autoflush=False)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# Every route that uses the database declares these (see core/openapi.py): a database failure
# is 503; a write that lost a race to a constraint is 409 (a read cannot).
@raises(ServiceUnavailable(ErrorCode.SERVICE_UNAVAILABLE))
@raises(Conflict(ErrorCode.CONFLICT), except_methods=SAFE_METHODS)
async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: one transaction, committed once when the route succeeded.

    Services `flush()`; they never commit. The commit runs after the answer was serialized and
    before it is sent, so a failed commit answers like any database failure (409/503), never
    with a success for data that was not kept. Any error rolls everything back.
    """
    factory = read_session_factory if request.method in SAFE_METHODS else session_factory
    async with factory() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        if session.in_transaction():
            await session.commit()


# scope="function": the commit above runs before the response is sent, not after.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def end_read_only_transaction(session: AsyncSession) -> None:
    """On SQLite, end the session's transaction if it has written nothing, so that no lock is
    held through a slow step (a password hash); the next statement begins a new one.

    The one exception to "only the session dependency commits": this COMMIT ends a transaction
    that holds no change (it refuses otherwise), so it keeps nothing that the request's own
    commit would not. PostgreSQL needs no such thing: its readers hold no lock that blocks
    writers, so there the request stays one transaction.
    """
    if session.get_bind().dialect.name != "sqlite" or not session.in_transaction():
        return
    if session.new or session.dirty or session.deleted:
        return
    connection = await session.connection()
    if connection.sync_connection is None or connection.sync_connection.info.get(_WROTE, True):
        return
    await session.commit()


def related(attribute: object) -> QueryableAttribute[Any]:
    """A relationship as loader options take it (`selectinload(related(Item.tags))`): SQLModel
    types relationship attributes as their values, which the type checker cannot pass there."""
    if not isinstance(attribute, QueryableAttribute):
        raise TypeError(f"not a mapped attribute: {attribute!r}")
    return attribute

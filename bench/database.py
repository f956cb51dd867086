"""The benchmark's own PostgreSQL database: created fresh, migrated, seeded, dropped.

A database is only ever dropped or reused when it carries our marker (its COMMENT): the
runner refuses any other database of the same name. The comment also keeps the seed's
description, so `--reuse` can skip seeding a database an earlier `--keep` run left behind.
"""

import json
import os
import re
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import asyncpg

from bench.seed import SeedInfo, seed_database

ROOT = Path(__file__).resolve().parent.parent
MARKER = "bench.http scratch database"
NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def dsn(server: str, database: str) -> str:
    return f"{server.rstrip('/')}/{database}"


def sqlalchemy_url(server: str, database: str) -> str:
    """The API's DATABASE_URL: the same database through SQLAlchemy's asyncpg dialect."""
    return dsn(server, database).replace("postgresql://", "postgresql+asyncpg://", 1)


async def _admin(server: str) -> asyncpg.Connection:
    return await asyncpg.connect(dsn(server, "postgres"))


async def _comment(connection: asyncpg.Connection, database: str) -> str | None:
    """The database's comment ('' when it has none), or None when it does not exist."""
    row = await connection.fetchrow(
        "SELECT coalesce(shobj_description(oid, 'pg_database'), '') AS comment"
        " FROM pg_database WHERE datname = $1",
        database,
    )
    return None if row is None else row["comment"]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


async def _set_comment(server: str, database: str, text: str) -> None:
    connection = await _admin(server)
    try:
        await connection.execute(f"COMMENT ON DATABASE {database} IS {_literal(text)}")
    finally:
        await connection.close()


async def create(
    server: str, database: str, *, reuse_if: tuple[int, int] | None
) -> SeedInfo | None:
    """Create `database` afresh, dropping an earlier one of ours; refuse anyone else's.

    With `reuse_if=(users, items)`, an earlier database of ours seeded with that many rows is
    kept as it is and its seed description returned instead.
    """
    if not NAME.match(database):
        raise SystemExit(f"--database must be a plain lower-case name, not {database!r}")
    connection = await _admin(server)
    try:
        comment = await _comment(connection, database)
        if comment is not None and not comment.startswith(MARKER):
            raise SystemExit(
                f"database {database!r} exists and was not created by the benchmark: "
                "refusing to touch it (choose another --database)"
            )
        if comment is not None and reuse_if is not None:
            info = _seed_info(comment)
            if info is not None and (info.users, info.items) == reuse_if:
                return info
        if comment is not None:
            await connection.execute(f"DROP DATABASE {database} WITH (FORCE)")
        await connection.execute(f"CREATE DATABASE {database}")
        # marked at once: an interrupted setup leaves a database the next run may drop
        await connection.execute(f"COMMENT ON DATABASE {database} IS {_literal(MARKER)}")
    finally:
        await connection.close()
    return None


def _seed_info(comment: str) -> SeedInfo | None:
    try:
        return SeedInfo(**json.loads(comment.removeprefix(MARKER).strip()))
    except (ValueError, TypeError):
        return None  # created, but never seeded to the end


async def drop(server: str, database: str) -> None:
    """Drop `database` if it is ours."""
    connection = await _admin(server)
    try:
        comment = await _comment(connection, database)
        if comment is not None and comment.startswith(MARKER):
            await connection.execute(f"DROP DATABASE {database} WITH (FORCE)")
    finally:
        await connection.close()


def migrate(server: str, database: str) -> None:
    """`alembic upgrade head`, as the project runs it, on the benchmark's database."""
    env = {**os.environ, "DATABASE_URL": sqlalchemy_url(server, database)}
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"alembic upgrade head failed:\n{done.stderr[-3000:]}")


async def build(server: str, database: str, users: int, items: int, out: Path) -> SeedInfo:
    """Migrate and seed the (just created) database; remember the seed in its comment."""
    migrate(server, database)
    info = await seed_database(dsn(server, database), users, items)
    write_seed_file(out, info)
    await _set_comment(server, database, f"{MARKER} {json.dumps(asdict(info))}")
    return info


def write_seed_file(path: Path, info: SeedInfo) -> None:
    """The seed's ids and logins, for whoever wants to poke at the database by hand."""
    path.write_text(json.dumps(asdict(info), indent=2) + "\n")

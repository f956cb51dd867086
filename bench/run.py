"""Benchmark the hot read paths in-process and report them as ratios against baselines measured
in the same run: `GET /health` (the framework's floor) and a raw path doing the reads of
`GET /items/{id}` with SQLAlchemy Core and a bare `jwt.decode`. See bench/README.md.

    .venv/bin/python -m bench.run [--database-url URL] [--requests N]
    .venv/bin/python -m bench.run --check --max-ratio-vs-raw 12 --max-ratio-vs-health 40
"""

import argparse
import asyncio
import gc
import os
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = "bench-secret-key-that-is-long-enough-for-hs256"  # noqa: S105
HEALTH, RAW, ITEM = "GET /health", "raw reads of /items/{id}", "GET /items/{id}"
USERS, ITEMS_PER_USER, TAGS_PER_ITEM, THREAD_ROOTS, REPLIES_PER_ROOT = 2, 100, 3, 20, 9

Get = Callable[[], Awaitable[None]]


# -- the database: a fresh one, migrated and seeded --


async def _postgres_admin(url: str, sql: str) -> None:
    """Run `sql` (CREATE/DROP DATABASE) on the server's `postgres` database."""
    admin = create_async_engine(
        make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    try:
        async with admin.connect() as connection:
            await connection.execute(text(sql))
    finally:
        await admin.dispose()


def _quoted_database(url: str) -> str:
    name = make_url(url).database
    if not name or name in {"postgres", "template0", "template1"}:
        raise SystemExit(f"name a scratch database in --database-url, not {name!r}")
    return '"' + name.replace('"', '""') + '"'


def migrate() -> None:
    from alembic.config import Config

    from alembic import command

    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")


@dataclass
class Fixture:
    headers: dict[str, str]
    item_id: uuid.UUID  # the caller's own item, carrying the comment thread


async def seed() -> Fixture:
    """2 users, 100 items each (every other one public, 3 tags each), a 200-comment thread."""
    from features.auth.backend import get_jwt_strategy

    from core.db import session_factory
    from features.comments.models import Comment
    from features.items.models import ItemCreate
    from features.items.service import create_items
    from features.users.models import User

    rng = random.Random(0)
    tags = [f"tag-{n}" for n in range(30)]
    async with session_factory() as session:
        users = [
            User(email=f"{name}@example.com", username=name, hashed_password="unused")  # noqa: S106
            for name in ("alice", "bob")[:USERS]
        ]
        session.add_all(users)
        await session.commit()
        items = []
        for owner in users:
            data = [
                ItemCreate(
                    title=f"{owner.username}'s item {n}",
                    description="A description of a few words. " * 5,
                    is_public=n % 2 == 0,
                    tags=rng.sample(tags, TAGS_PER_ITEM),
                )
                for n in range(ITEMS_PER_USER)
            ]
            items += await create_items(session=session, owner=owner, data=data)

        thread: list[dict[str, Any]] = []
        for _ in range(THREAD_ROOTS):
            tree = [{"id": uuid.uuid4(), "parent_id": None}]
            for _ in range(REPLIES_PER_ROOT):  # each reply under a random earlier one
                tree.append({"id": uuid.uuid4(), "parent_id": rng.choice(tree)["id"]})
            thread += tree
        for n, row in enumerate(thread):
            row.update(item_id=items[0].id, author_id=users[n % USERS].id, content=f"Comment {n}")
        await session.execute(insert(Comment.__table__), thread)
        await session.commit()

    token = await get_jwt_strategy().write_token(users[0])
    return Fixture(headers={"Authorization": f"Bearer {token}"}, item_id=items[0].id)


# -- the raw baseline: the reads of GET /items/{id}, without ORM or dependency tree --


def raw_app() -> Any:
    """A Starlette app answering GET /items/{id} as the API does: one user lookup that checks
    revocation, one SELECT of the item joined with its owner and tags, on the same engine."""
    import jwt
    from sqlalchemy import Boolean, bindparam, exists, or_, select
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from core.db import engine
    from features.auth.models import RevokedToken
    from features.items.models import Item, ItemTag, Tag
    from features.users.models import User

    users, items, tags, links = User.__table__, Item.__table__, Tag.__table__, ItemTag.__table__
    revoked = exists().where(RevokedToken.__table__.c.jti == bindparam("jti")).label("revoked")
    who = select(
        users.c.is_active, users.c.is_superuser, users.c.tokens_valid_after, revoked
    ).where(users.c.id == bindparam("user_id"))
    item = (
        select(items, users.c.username, users.c.full_name, tags.c.name.label("tag"))
        .join(users, users.c.id == items.c.owner_id)
        .outerjoin(links, links.c.item_id == items.c.id)
        .outerjoin(tags, tags.c.id == links.c.tag_id)
        .where(
            items.c.id == bindparam("item_id"),
            or_(
                bindparam("superuser", type_=Boolean),
                items.c.owner_id == bindparam("user_id"),
                items.c.is_public.is_(True),
            ),
        )
    )
    secret = os.environ["SECRET_KEY"]
    unauthorized = JSONResponse({"detail": "Unauthorized"}, status_code=401)

    async def read_item(request: Request) -> JSONResponse:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        try:
            claims = jwt.decode(token, secret, algorithms=["HS256"], audience="fastapi-users:auth")
            user_id = uuid.UUID(claims["sub"])
        except (jwt.PyJWTError, KeyError, ValueError):
            return unauthorized
        async with engine.connect() as connection:
            user = (
                await connection.execute(who, {"user_id": user_id, "jti": claims["jti"]})
            ).one_or_none()
            valid_after = user and user.tokens_valid_after
            if (
                not user
                or user.revoked
                or not user.is_active
                or (valid_after and claims["iat"] <= valid_after.timestamp())
            ):
                return unauthorized
            params = {"item_id": request.path_params["item_id"], "user_id": user_id}
            rows = (
                await connection.execute(item, {**params, "superuser": user.is_superuser})
            ).all()
        if not rows:
            return JSONResponse({"detail": "Item not found"}, status_code=404)
        row = rows[0]
        owner = {"id": str(row.owner_id), "username": row.username, "full_name": row.full_name}
        return JSONResponse(
            {
                "id": str(row.id),
                "title": row.title,
                "description": row.description,
                "is_public": row.is_public,
                "tags": sorted(row.tag for row in rows if row.tag is not None),
                "owner": owner,
                "owner_id": str(row.owner_id),
                "created_at": row.created_at.isoformat(),
                "updated_at": row.updated_at.isoformat(),
            }
        )

    return Starlette(routes=[Route("/items/{item_id:uuid}", read_item)])


# -- measuring --


@dataclass
class Result:
    name: str
    requests: int = 0
    cpu: list[float] = field(default_factory=list)  # seconds per request, one per round
    wall: list[float] = field(default_factory=list)
    statements: int = 0
    peak_kib: float = 0.0

    @property
    def cpu_ms(self) -> float:
        return statistics.median(self.cpu) * 1000

    @property
    def wall_ms(self) -> float:
        return statistics.median(self.wall) * 1000


def getter(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> Get:
    async def get() -> None:
        response = await client.get(path, headers=headers)
        if response.status_code != 200:
            raise SystemExit(f"GET {path}: {response.status_code} {response.text[:300]}")

    return get


async def peak_kib(get: Get, repeats: int = 5) -> float:
    """Median over a few requests of the peak of memory allocated during one request."""
    tracemalloc.start()
    try:
        peaks = []
        for _ in range(repeats):
            gc.collect()
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            await get()
            peaks.append(tracemalloc.get_traced_memory()[1] - before)
        return statistics.median(peaks) / 1024
    finally:
        tracemalloc.stop()


async def measure(args: argparse.Namespace) -> list[Result]:
    from core.db import engine
    from main import create_app

    fixture = await seed()
    statements = 0

    def count(*_: Any) -> None:
        nonlocal statements
        statements += 1

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    api = httpx.AsyncClient(transport=httpx.ASGITransport(create_app()), base_url="http://api")
    raw = httpx.AsyncClient(transport=httpx.ASGITransport(raw_app()), base_url="http://raw")
    item, auth = fixture.item_id, fixture.headers
    scenarios = {
        HEALTH: getter(api, "/health", {}),
        RAW: getter(raw, f"/items/{item}", auth),
        ITEM: getter(api, f"/api/v1/items/{item}", auth),
        "GET /items?limit=100": getter(api, "/api/v1/items?limit=100", auth),
        "GET /items/{id}/comments": getter(api, f"/api/v1/items/{item}/comments", auth),
        "GET /users/with-items?limit=100": getter(api, "/api/v1/users/with-items?limit=100", auth),
    }
    results = {name: Result(name) for name in scenarios}
    async with api, raw:
        # the raw path answers what the API does (timestamps aside: their formats differ)
        ours = (await api.get(f"/api/v1/items/{item}", headers=auth)).json()
        theirs = (await raw.get(f"/items/{item}", headers=auth)).json()
        assert ours.keys() == theirs.keys(), theirs
        assert all(ours[key] == theirs[key] for key in ours if not key.endswith("_at")), theirs
        for get in scenarios.values():
            for _ in range(args.warmup):
                await get()
        # rounds interleave the scenarios, so a slow spell of the machine hits them all
        per_round = max(1, args.requests // args.rounds)
        for _ in range(args.rounds):
            for name, get in scenarios.items():
                result, before = results[name], statements
                gc.collect()
                cpu, wall = time.process_time(), time.perf_counter()
                for _ in range(per_round):
                    await get()
                result.cpu.append((time.process_time() - cpu) / per_round)
                result.wall.append((time.perf_counter() - wall) / per_round)
                result.requests += per_round
                result.statements += statements - before
        for name, get in scenarios.items():
            results[name].peak_kib = await peak_kib(get)
    event.remove(engine.sync_engine, "before_cursor_execute", count)
    await engine.dispose()
    return list(results.values())


# -- reporting --


def ratios(results: list[Result]) -> dict[str, tuple[float, float | None]]:
    """Per scenario: CPU × the health floor, and CPU × the raw reads (the item route only)."""
    by_name = {result.name: result for result in results}
    health, raw = by_name[HEALTH].cpu_ms, by_name[RAW].cpu_ms
    return {
        r.name: (r.cpu_ms / health, r.cpu_ms / raw if r.name in (RAW, ITEM) else None)
        for r in results
    }


def report(results: list[Result], database: str) -> None:
    print(f"database: {database}  (CPU and wall: median over rounds of the mean per request)")
    columns = "CPU ms/req", "wall ms/req", "SQL/req", "peak KiB", "× health", "× raw"
    print("{:<32}{:>9}{:>12}{:>13}{:>9}{:>10}{:>10}{:>8}".format("scenario", "requests", *columns))
    for result in results:
        vs_health, vs_raw = ratios(results)[result.name]
        print(
            f"{result.name:<32}{result.requests:>9}{result.cpu_ms:>12.3f}{result.wall_ms:>13.3f}"
            f"{result.statements / result.requests:>9.1f}{result.peak_kib:>10.0f}"
            f"{vs_health:>10.1f}{'' if vs_raw is None else f'{vs_raw:.1f}':>8}"
        )


def check(args: argparse.Namespace, results: list[Result]) -> int:
    """1 if a ratio exceeds its threshold; absolute times are never checked."""
    failures = []
    for name, (vs_health, vs_raw) in ratios(results).items():
        if name in (HEALTH, RAW):
            continue
        if args.max_ratio_vs_health is not None and vs_health > args.max_ratio_vs_health:
            failures.append(f"{name}: {vs_health:.1f} × health > {args.max_ratio_vs_health}")
        if (
            args.max_ratio_vs_raw is not None
            and vs_raw is not None
            and vs_raw > args.max_ratio_vs_raw
        ):
            failures.append(f"{name}: {vs_raw:.1f} × raw > {args.max_ratio_vs_raw}")
    for failure in failures:
        print("FAIL", failure)
    return 1 if failures else 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        help="default: a temporary SQLite file; a PostgreSQL URL names a scratch database "
        "that is created (it must not exist) and dropped afterwards",
    )
    parser.add_argument("--requests", type=int, default=240, help="per scenario (default 240)")
    parser.add_argument("--rounds", type=int, default=3, help="the requests split in rounds")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured requests first")
    parser.add_argument("--check", action="store_true", help="exit 1 if a ratio exceeds its max")
    parser.add_argument("--max-ratio-vs-raw", type=float, help="GET /items/{id} CPU ÷ raw reads")
    parser.add_argument("--max-ratio-vs-health", type=float, help="any route's CPU ÷ /health")
    args = parser.parse_args(argv)
    if args.check and args.max_ratio_vs_raw is None and args.max_ratio_vs_health is None:
        parser.error("--check needs --max-ratio-vs-raw and/or --max-ratio-vs-health")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.chdir(ROOT)
    if str(ROOT) not in sys.path:  # run as a script: bench/ is on the path, not the root
        sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory(prefix="items-bench-") as scratch:
        url = args.database_url or f"sqlite+aiosqlite:///{scratch}/bench.db"
        # the settings are read once, at the app's first import: set them before any
        os.environ.update(DATABASE_URL=url, ENVIRONMENT="development", SECRET_KEY=SECRET_KEY)
        postgres = url.startswith("postgresql")
        if postgres:
            database = _quoted_database(url)
            try:
                asyncio.run(_postgres_admin(url, f"CREATE DATABASE {database}"))
            except DBAPIError as error:
                raise SystemExit(f"cannot create {database}: {error.orig}") from None
        try:
            migrate()
            results = asyncio.run(measure(args))
        finally:
            if postgres:
                asyncio.run(
                    _postgres_admin(url, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
                )
    report(results, make_url(url).render_as_string(hide_password=True))
    return check(args, results) if args.check else 0


if __name__ == "__main__":
    sys.exit(main())

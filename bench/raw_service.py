"""The raw baseline: the thinnest honest service doing what our API does for the benchmarked
routes. Starlette, one asyncpg pool, PyJWT; no ORM, no dependency injection, no validation
library. Same token check, same rows, same JSON, same visibility rule (own or public; a
superuser sees all). See bench/README.md.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/items_bench SECRET_KEY=... \
        .venv/bin/uvicorn bench.raw_service:app --port 8101

Routes (paths as in our API, so one load script serves both):
    GET  /health
    GET  /api/v1/users/me
    GET  /api/v1/items/{id}
    GET  /api/v1/items?owner_only=true[&skip=&limit=]   (the caller's own items, + count)
    POST /api/v1/items                                  (item + tags in one transaction)
"""

import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg
import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

PREFIX = "/api/v1"
MAX_PAGE_SIZE = 100
TITLE_MAX, DESCRIPTION_MAX, TAG_MAX, TAGS_PER_ITEM_MAX = 100, 10_000, 30, 20

Row = asyncpg.Record
Handler = Callable[[Request, asyncpg.Connection, Row], Awaitable[Response]]

_pool: asyncpg.Pool | None = None


def _database_url() -> str:
    # the API's own DATABASE_URL works here too: asyncpg wants the scheme without the driver
    return os.environ["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://", 1)


@asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    global _pool
    # the API's SQLAlchemy pool holds 10 connections and may overflow to 20: the same here
    _pool = await asyncpg.create_pool(
        _database_url(),
        min_size=int(os.environ.get("RAW_POOL_MIN", "10")),
        max_size=int(os.environ.get("RAW_POOL_MAX", "20")),
    )
    try:
        yield
    finally:
        await _pool.close()


# ====================================================================================
# AUTH — the one place that knows the token model.
# Today: an HS256 JWT (audience fastapi-users:auth) with sub, jti, iat, exp; refused when
# its jti is in revoked_tokens, when it was issued at or before users.tokens_valid_after,
# or when the user is inactive or gone (features/auth/tokens.py).
# When sessions land (access tokens carry `sid`; sessions.revoked_at), change
# REQUIRED_CLAIMS, AUTH_SQL and the arguments in `load_user` — nothing else.
# ====================================================================================

SECRET_KEY = os.environ.get("SECRET_KEY", "")
AUDIENCE = "fastapi-users:auth"
REQUIRED_CLAIMS = ["sub", "jti", "iat", "exp"]
# One round trip: the user, the denylist and the "valid after" time. `iat` is compared as
# our API compares it (refused when iat <= tokens_valid_after).
AUTH_SQL = """
SELECT u.id, u.email, u.username, u.full_name, u.is_active, u.is_superuser, u.is_verified,
       u.created_at, u.updated_at
FROM users u
WHERE u.id = $1
  AND u.is_active
  AND NOT EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.jti = $2)
  AND (u.tokens_valid_after IS NULL OR u.tokens_valid_after < to_timestamp($3::float8))
"""


def decode_claims(authorization: str | None) -> dict[str, Any] | None:
    """The verified claims of a bearer token shaped as our API issues them, else None."""
    if not authorization or not authorization.startswith("Bearer "):
        return None
    token = authorization[len("Bearer ") :]
    if not token.isascii():
        return None
    try:
        claims = jwt.decode(
            token,
            SECRET_KEY,
            algorithms=["HS256"],
            audience=AUDIENCE,
            options={"require": REQUIRED_CLAIMS},
        )
        claims["sub"] = uuid.UUID(claims["sub"])
    except (jwt.PyJWTError, ValueError, TypeError, AttributeError):
        return None
    if not isinstance(claims["jti"], str) or not isinstance(claims["iat"], int | float):
        return None
    return claims


async def load_user(connection: asyncpg.Connection, claims: dict[str, Any]) -> Row | None:
    """The active user the claims name, unless the token was revoked: the one auth query."""
    return await connection.fetchrow(AUTH_SQL, claims["sub"], claims["jti"], float(claims["iat"]))


# ====================================================================================


def _unauthorized() -> Response:
    return JSONResponse(
        {"detail": "Unauthorized"}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
    )


def authenticated(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A route that runs `handler` with one pooled connection and the caller's user row."""

    async def endpoint(request: Request) -> Response:
        claims = decode_claims(request.headers.get("authorization"))
        if claims is None:
            return _unauthorized()  # before any body is read, as the contract asks
        assert _pool is not None
        async with _pool.acquire() as connection:
            user = await load_user(connection, claims)
            if user is None:
                return _unauthorized()
            return await handler(request, connection, user)

    return endpoint


# -- JSON shapes (UserRead, UserPublic, ItemRead, Page), as pydantic writes them --


def _time(value: datetime) -> str:
    # pydantic writes UTC as "Z"; asyncpg gives timestamptz back in UTC
    return value.isoformat().replace("+00:00", "Z")


def user_read(user: Row) -> dict[str, Any]:
    return {
        "id": str(user["id"]),
        "username": user["username"],
        "full_name": user["full_name"],
        "email": user["email"],
        "is_active": user["is_active"],
        "is_superuser": user["is_superuser"],
        "is_verified": user["is_verified"],
        "created_at": _time(user["created_at"]),
        "updated_at": _time(user["updated_at"]),
    }


def item_read(item: Row, owner_username: str, owner_full_name: str | None) -> dict[str, Any]:
    owner_id = str(item["owner_id"])
    return {
        "id": str(item["id"]),
        "title": item["title"],
        "description": item["description"],
        "is_public": item["is_public"],
        "tags": list(item["tags"]),
        "owner": {"id": owner_id, "username": owner_username, "full_name": owner_full_name},
        "owner_id": owner_id,
        "created_at": _time(item["created_at"]),
        "updated_at": _time(item["updated_at"]),
    }


# -- routes --
# An item's tags come as an array, sorted by code point as Python's sorted() in ItemRead
# sorts them (COLLATE "C"): one statement per item read, one per page.

ITEM_SQL = """
SELECT i.id, i.title, i.description, i.is_public, i.owner_id, i.created_at, i.updated_at,
       o.username, o.full_name,
       ARRAY(SELECT t.name FROM item_tags it JOIN tags t ON t.id = it.tag_id
             WHERE it.item_id = i.id ORDER BY t.name COLLATE "C") AS tags
FROM items i JOIN users o ON o.id = i.owner_id
WHERE i.id = $1 AND ($2::boolean OR i.owner_id = $3 OR i.is_public)
"""


async def read_item(request: Request, connection: asyncpg.Connection, user: Row) -> Response:
    item = await connection.fetchrow(
        ITEM_SQL, request.path_params["item_id"], user["is_superuser"], user["id"]
    )
    if item is None:
        return JSONResponse({"detail": "Item not found"}, status_code=404)
    return JSONResponse(item_read(item, item["username"], item["full_name"]))


async def read_me(_request: Request, _connection: asyncpg.Connection, user: Row) -> Response:
    return JSONResponse(user_read(user))


OWN_COUNT_SQL = "SELECT count(*) FROM items WHERE owner_id = $1"
OWN_PAGE_SQL = """
SELECT i.id, i.title, i.description, i.is_public, i.owner_id, i.created_at, i.updated_at,
       ARRAY(SELECT t.name FROM item_tags it JOIN tags t ON t.id = it.tag_id
             WHERE it.item_id = i.id ORDER BY t.name COLLATE "C") AS tags
FROM items i
WHERE i.owner_id = $1
ORDER BY i.created_at DESC, i.id DESC
LIMIT $2 OFFSET $3
"""


def _page_params(request: Request) -> tuple[int, int] | None:
    try:
        skip = int(request.query_params.get("skip", "0"))
        limit = int(request.query_params.get("limit", "10"))
    except ValueError:
        return None
    if skip < 0 or not 1 <= limit <= MAX_PAGE_SIZE:
        return None
    return skip, limit


async def list_own_items(request: Request, connection: asyncpg.Connection, user: Row) -> Response:
    """The caller's own items, newest first (ties by id), and their count: our API's
    `GET /items?owner_only=true`, the baseline every list scenario is compared with."""
    page = _page_params(request)
    if page is None:
        return JSONResponse({"detail": "bad skip or limit"}, status_code=422)
    if request.query_params.get("owner_only") != "true" or request.query_params.keys() - {
        "owner_only",
        "skip",
        "limit",
    }:
        return JSONResponse({"detail": "the raw baseline lists own items only"}, status_code=400)
    skip, limit = page
    total = await connection.fetchval(OWN_COUNT_SQL, user["id"])
    rows = await connection.fetch(OWN_PAGE_SQL, user["id"], limit, skip)
    # the caller owns every row: its user row is the owner, no join needed
    items = [item_read(row, user["username"], user["full_name"]) for row in rows]
    return JSONResponse({"items": items, "total": total, "skip": skip, "limit": limit})


def _clean(value: Any, max_length: int, *, min_length: int = 0) -> str | None:
    """`value` stripped, if it is a storable string of an allowed length (ItemCreate's rules)."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if "\x00" in value or not min_length <= len(value) <= max_length:
        return None
    return value


def parse_item_create(body: Any) -> dict[str, Any] | None:
    """ItemCreate: title 1–100, description ≤ 10 000 or null, is_public, ≤ 20 tags of 1–30
    characters, lower-cased, de-duplicated and sorted. None when the body breaks a rule."""
    if not isinstance(body, dict):
        return None
    title = _clean(body.get("title"), TITLE_MAX, min_length=1)
    description = body.get("description")
    if description is not None and (
        not isinstance(description, str)
        or "\x00" in description
        or len(description) > DESCRIPTION_MAX
    ):
        return None
    is_public = body.get("is_public", False)
    raw_tags = body.get("tags", [])
    if title is None or not isinstance(is_public, bool) or not isinstance(raw_tags, list):
        return None
    stripped = [_clean(tag, TAG_MAX, min_length=1) for tag in raw_tags]
    if None in stripped:
        return None
    tags = sorted({tag.lower() for tag in stripped if tag is not None})
    if len(tags) > TAGS_PER_ITEM_MAX or any(len(tag) > TAG_MAX for tag in tags):
        return None
    return {"title": title, "description": description, "is_public": is_public, "tags": tags}


INSERT_TAGS_SQL = "INSERT INTO tags (name) SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING"
SELECT_TAGS_SQL = "SELECT id FROM tags WHERE name = ANY($1::text[])"
INSERT_ITEM_SQL = """
INSERT INTO items (id, title, title_search, description, is_public, owner_id)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING id, title, description, is_public, owner_id, created_at, updated_at
"""
INSERT_LINKS_SQL = "INSERT INTO item_tags (item_id, tag_id) SELECT $1, unnest($2::int[])"


async def create_item(request: Request, connection: asyncpg.Connection, user: Row) -> Response:
    try:
        data = parse_item_create(json.loads(await request.body()))
    except ValueError:
        data = None
    if data is None:
        return JSONResponse({"detail": "invalid item"}, status_code=422)
    tags, tag_ids = data["tags"], []
    async with connection.transaction():
        if tags:
            # names go in sorted (as our API does): racing writers lock index entries in order
            await connection.execute(INSERT_TAGS_SQL, tags)
            tag_ids = [row["id"] for row in await connection.fetch(SELECT_TAGS_SQL, tags)]
        title = data["title"]
        item = await connection.fetchrow(
            INSERT_ITEM_SQL,
            uuid.uuid4(),
            title,
            title.casefold(),
            data["description"],
            data["is_public"],
            user["id"],
        )
        if tags:
            await connection.execute(INSERT_LINKS_SQL, item["id"], tag_ids)
    body = item_read({**dict(item), "tags": tags}, user["username"], user["full_name"])
    return JSONResponse(body, status_code=201)


async def health(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


_create_item, _list_own_items = authenticated(create_item), authenticated(list_own_items)


async def list_or_create(request: Request) -> Response:
    return await (_create_item if request.method == "POST" else _list_own_items)(request)


app = Starlette(
    routes=[
        Route("/health", health),
        Route(f"{PREFIX}/users/me", authenticated(read_me)),
        Route(f"{PREFIX}/items/{{item_id:uuid}}", authenticated(read_item)),
        Route(f"{PREFIX}/items", list_or_create, methods=["GET", "POST"]),
    ],
    lifespan=lifespan,
)

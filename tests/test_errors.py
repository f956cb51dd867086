"""Error answers: one `{"detail": ...}` shape, never a 500 for odd input, no internals leaked."""

import json
import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from core.errors import register_error_handlers

# Written as JSON escapes, so the request body is valid JSON that decodes to the odd character.
NUL = "\\u0000"
SURROGATE = "\\ud800"
ODD = [pytest.param(NUL, id="nul"), pytest.param(SURROGATE, id="surrogate")]

# (method, path, needs, JSON body template with {odd} where the odd character goes)
JSON_CASES = [
    ("POST", "/auth/register", None, '{"email": "x{odd}@x.io", "username": "xx", "password": "p"}'),
    ("POST", "/auth/register", None, '{"email": "x@x.io", "username": "x{odd}x", "password": "p"}'),
    (
        "POST",
        "/auth/register",
        None,
        '{"email": "new@example.com", "username": "newbie", "password": "long-pass{odd}word"}',
    ),
    (
        "POST",
        "/auth/register",
        None,
        '{"email": "new@example.com", "username": "newbie", "password": "long-password",'
        ' "full_name": "A{odd}B"}',
    ),
    ("POST", "/auth/forgot-password", None, '{"email": "alice{odd}@example.com"}'),
    ("POST", "/auth/forgot-password", None, '{"email": "alice@example.com{odd}"}'),
    ("POST", "/auth/reset-password", None, '{"token": "a{odd}b", "password": "long-password"}'),
    ("POST", "/auth/reset-password", None, '{"token": "abc", "password": "long-pass{odd}word"}'),
    ("POST", "/auth/request-verify-token", None, '{"email": "alice{odd}@example.com"}'),
    ("POST", "/auth/verify", None, '{"token": "a{odd}b"}'),
    ("PATCH", "/users/me", "alice", '{"full_name": "A{odd}B"}'),
    ("PATCH", "/users/me", "alice", '{"username": "al{odd}ce"}'),
    (
        "PATCH",
        "/users/me",
        "alice",
        '{"email": "a{odd}@example.com", "current_password": "correct-horse-battery"}',
    ),
    (
        "PATCH",
        "/users/me",
        "alice",
        '{"password": "new-pass{odd}word", "current_password": "correct-horse-battery"}',
    ),
    ("PATCH", "/users/me", "alice", '{"email": "a2@example.com", "current_password": "x{odd}"}'),
    ("PATCH", "/users/{alice}", "admin", '{"full_name": "A{odd}B"}'),
    ("PATCH", "/users/{alice}", "admin", '{"email": "a{odd}@example.com"}'),
    ("PATCH", "/users/{alice}", "admin", '{"password": "new-pass{odd}word"}'),
]


def _assert_error_shape(response: httpx.Response) -> None:
    assert response.status_code != 500, response.text
    assert response.status_code < 500, response.text
    body = response.json()
    assert set(body) == {"detail"}, body


@pytest.mark.parametrize("odd", ODD)
@pytest.mark.parametrize(
    ("method", "path", "who", "template"),
    JSON_CASES,
    ids=[f"{m} {p} #{i}" for i, (m, p, _, _) in enumerate(JSON_CASES)],
)
async def test_odd_characters_in_json_bodies_are_refused_cleanly(
    client, alice, admin, db_scalar, method, path, who, template, odd
):
    accounts = {"alice": alice, "admin": admin}
    headers = {"content-type": "application/json"}
    if who:
        headers.update(accounts[who].headers)
    body = template.replace("{odd}", odd).encode()
    json.loads(body)  # the request itself is well-formed JSON
    response = await client.request(
        method, path.format(alice=alice.id), content=body, headers=headers
    )
    _assert_error_shape(response)
    assert response.status_code in (400, 422), response.text
    # nothing was written: alice is as the fixture made her, and nobody new exists
    assert await db_scalar("SELECT count(*) FROM users") == 2
    assert (
        await db_scalar("SELECT full_name FROM users WHERE username = 'alice'") == "Alice Liddell"
    )
    assert await db_scalar("SELECT email FROM users WHERE username = 'alice'") == (
        "alice@example.com"
    )


# Form fields travel percent-encoded: %00 is NUL, %ED%A0%80 the UTF-8-style bytes of U+D800
# (not valid UTF-8), %FF a byte that is never valid UTF-8.
FORM_ODD = [
    pytest.param("%00", id="nul"),
    pytest.param("%ED%A0%80", id="surrogate-bytes"),
    pytest.param("%FF", id="invalid-utf8"),
]


@pytest.mark.parametrize("odd", FORM_ODD)
@pytest.mark.parametrize("field", ["username", "password"])
async def test_odd_characters_in_login_form_are_refused_cleanly(client, alice, field, odd):
    fields = {"username": "alice", "password": "correct-horse-battery"}
    fields[field] = fields[field][:3] + odd + fields[field][3:]
    content = "&".join(f"{name}={value}" for name, value in fields.items()).encode()
    response = await client.post(
        "/auth/jwt/login",
        content=content,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    _assert_error_shape(response)
    assert response.status_code in (400, 422), response.text


QUERY_ODD = [
    pytest.param("%00", id="nul"),
    pytest.param("%ED%A0%80", id="surrogate-bytes"),
    pytest.param("%5Cud800", id="escaped-surrogate-text"),
]


@pytest.mark.parametrize("odd", QUERY_ODD)
@pytest.mark.parametrize(
    "path",
    [
        "/users?skip={odd}",
        "/users?limit=1{odd}",
        "/users?unknown={odd}",
        "/users/me?x={odd}",
        "/users/{odd}",
        "/users/{alice}?x={odd}",
    ],
)
async def test_odd_characters_in_query_and_path_are_refused_cleanly(
    client, admin, alice, path, odd
):
    url = path.format(odd=odd, alice=alice.id)
    response = await client.get(url, headers=admin.headers)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert set(response.json()) == {"detail"}


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
@pytest.mark.parametrize("bad_id", ["not-a-uuid", "123", "0" * 40])
async def test_malformed_uuid_in_path_is_422(client, admin, db_scalar, method, bad_id):
    json_body = {"full_name": "x"} if method == "PATCH" else None
    response = await client.request(
        method, f"/users/{bad_id}", headers=admin.headers, json=json_body
    )
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert [error["loc"] for error in detail] == [["path", "user_id"]]
    assert await db_scalar("SELECT count(*) FROM users") == 1


async def test_validation_error_does_not_echo_input(client):
    response = await client.post(
        "/auth/register", json={"email": "not-an-email", "username": "x", "password": "s3cret!"}
    )
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert {tuple(error["loc"]) for error in detail} == {("body", "email"), ("body", "username")}
    for error in detail:
        assert set(error) == {"loc", "msg", "type"}
    assert "s3cret!" not in response.text
    assert "not-an-email" not in response.text


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/no-such-route", 404),
        ("PUT", "/users/me", 405),
        ("POST", "/users", 405),
        ("GET", "/users/me", 401),
    ],
)
async def test_framework_errors_have_the_detail_shape(client, method, path, status):
    response = await client.request(method, path)
    assert response.status_code == status
    assert set(response.json()) == {"detail"}
    assert isinstance(response.json()["detail"], str)


async def test_invalid_json_is_422_with_detail(client):
    response = await client.post(
        "/auth/register", content=b'{"email": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert set(response.json()) == {"detail"}


# Bodies the JSON decoder gives up on without a JSONDecodeError: malformed JSON like any other.
UNDECODABLE = [
    pytest.param(b'{"title": "caf\xe9"}', 14, id="latin-1-byte"),
    pytest.param(b'{"title": "\xe2\x82"}', 11, id="truncated-sequence"),
    pytest.param(b"\xff\xfe\x00", 2, id="utf-16-odd-length"),
    pytest.param(b'{"title": "x", "n": ' + b"9" * 5000 + b"}", 0, id="5000-digit-integer"),
    pytest.param(b"[" * 100_000, 0, id="nested-beyond-the-stack"),
]


@pytest.mark.parametrize(("body", "position"), UNDECODABLE)
async def test_undecodable_json_is_422_json_invalid(client, alice, db_scalar, body, position):
    headers = {**alice.headers, "content-type": "application/json"}
    response = await client.post("/items", content=body, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json() == {
        "detail": [{"loc": ["body", position], "msg": "JSON decode error", "type": "json_invalid"}]
    }
    assert await db_scalar("SELECT count(*) FROM items") == 0


async def test_undecodable_json_on_a_public_route_is_422(client, db_scalar):
    response = await client.post(
        "/auth/register",
        content=b'{"email": "x\xff@example.com", "username": "xx", "password": "long-password"}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["type"] == "json_invalid"
    assert await db_scalar("SELECT count(*) FROM users") == 0


# -- the database and catch-all handlers, on a small app of their own --


def _failing_app() -> FastAPI:
    app = FastAPI()
    register_error_handlers(app)

    @app.get("/integrity")
    async def integrity() -> None:
        raise IntegrityError("INSERT INTO users ...", {}, Exception("duplicate key secret_row"))

    @app.get("/database")
    async def database() -> None:
        raise OperationalError("SELECT 1", {}, Exception("connection to 10.0.0.7 refused"))

    @app.get("/unreachable")
    async def unreachable() -> None:
        raise ConnectionRefusedError("connect to 10.0.0.8:5432 refused")

    @app.get("/pool")
    async def pool() -> None:
        raise PoolTimeoutError("QueuePool limit of size 10 overflow 10 reached at db.internal")

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("internal state: password=hunter2")

    @app.get("/unauthorized")
    async def unauthorized() -> None:
        from fastapi import HTTPException

        raise HTTPException(401, "nope")

    return app


@pytest.mark.parametrize(
    ("path", "status", "leak"),
    [
        ("/integrity", 409, "secret_row"),
        ("/database", 503, "10.0.0.7"),
        ("/unreachable", 503, "10.0.0.8"),
        ("/pool", 503, "db.internal"),
        ("/boom", 500, "hunter2"),
    ],
)
async def test_database_and_unexpected_errors_hide_internals(path, status, leak):
    transport = httpx.ASGITransport(app=_failing_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get(path)
    assert response.status_code == status
    assert set(response.json()) == {"detail"}
    assert isinstance(response.json()["detail"], str)
    assert leak not in response.text
    assert "INSERT" not in response.text
    assert "SELECT" not in response.text


async def test_every_401_names_the_bearer_scheme():
    transport = httpx.ASGITransport(app=_failing_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/unauthorized")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": "nope"}


async def test_unknown_user_id_is_404_with_detail(client, admin):
    response = await client.get(f"/users/{uuid.uuid4()}", headers=admin.headers)
    assert response.status_code == 404
    assert response.json() == {"detail": "User not found"}

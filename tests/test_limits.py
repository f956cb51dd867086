"""Body caps (413) and header bounds (431): decided while reading, before anything parses."""

import json

import httpx
import pytest

from core.config import get_settings
from core.limits import RequestLimitMiddleware

TOO_LARGE = {"detail": "REQUEST_TOO_LARGE"}
HEADERS_TOO_LARGE = {"detail": "REQUEST_HEADERS_TOO_LARGE"}
JSON = {"content-type": "application/json"}


def chunks(total: int, size: int = 64 * 1024):
    """An async body of `total` bytes without a Content-Length (sent chunked)."""

    async def body():
        sent = 0
        while sent < total:
            piece = min(size, total - sent)
            sent += piece
            yield b" " * piece

    return body()


# -- the middleware on its own: what it reads, and when --


class Recorder:
    """A bare ASGI app that reads the whole body (or not) and records what it saw."""

    def __init__(self, *, read_body: bool = True) -> None:
        self.read_body = read_body
        self.called = False
        self.received = 0

    async def __call__(self, scope, receive, send):
        self.called = True
        if self.read_body:
            while True:
                message = await receive()
                self.received += len(message.get("body", b""))
                if not message.get("more_body"):
                    break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def limited(app, **overrides):
    options = {
        "max_body_bytes": 1000,
        "body_caps": {("POST", "/bulk"): 5000},
        "max_header_bytes": 4096,
        "max_header_count": 20,
    }
    options.update(overrides)
    return RequestLimitMiddleware(app, **options)


async def call(app, *, method="POST", path="/x", headers=(), body_chunks=(b"",)):
    """Drive one request through `app`; the response and how many body messages it pulled."""
    pending = list(body_chunks)
    pulled = 0

    async def receive():
        nonlocal pulled
        pulled += 1
        chunk = pending.pop(0) if pending else b""
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    sent = []

    async def send(message):
        sent.append(message)

    headers = list(headers)
    if not any(name == "content-length" for name, _ in headers):
        headers.append(("transfer-encoding", "chunked"))  # as a server passes a chunked body on
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(n.encode(), v.encode()) for n, v in headers],
    }
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body, pulled


async def test_content_length_over_the_cap_is_refused_before_the_app_runs():
    app = Recorder()
    status, body, pulled = await call(
        limited(app), headers=[("content-length", "1001")], body_chunks=[b"x" * 1001]
    )
    assert (status, json.loads(body)) == (413, TOO_LARGE)
    assert not app.called
    assert pulled == 0  # not one byte read


async def test_a_route_that_answers_before_reading_still_gets_413_for_its_content_length():
    app = Recorder(read_body=False)
    status, body, _ = await call(limited(app), headers=[("content-length", "999999")])
    assert (status, json.loads(body)) == (413, TOO_LARGE)
    assert not app.called


async def test_a_chunked_body_is_cut_off_at_the_cap():
    app = Recorder()
    many = [b"x" * 300] * 100  # 30 000 bytes in all, cap 1000
    status, body, pulled = await call(limited(app), body_chunks=many)
    assert (status, json.loads(body)) == (413, TOO_LARGE)
    assert pulled == 4  # 1200 bytes read: past the cap after the fourth chunk, then no more


@pytest.mark.parametrize(
    ("path", "size", "status"),
    [("/x", 1000, 200), ("/x", 1001, 413), ("/bulk", 5000, 200), ("/bulk", 5001, 413)],
)
async def test_caps_per_route_at_the_boundary(path, size, status):
    app = Recorder()
    got, _, _ = await call(
        limited(app), path=path, headers=[("content-length", str(size))], body_chunks=[b"x" * size]
    )
    assert got == status
    got, _, _ = await call(limited(Recorder()), path=path, body_chunks=[b"x" * size])
    assert got == status


async def test_the_bulk_cap_is_for_post_only():
    status, _, _ = await call(
        limited(Recorder()), method="PUT", path="/bulk", headers=[("content-length", "2000")]
    )
    assert status == 413


async def test_whatever_the_app_answers_to_a_cut_off_body_becomes_413():
    async def swallowing(scope, receive, send):
        try:
            while (await receive()).get("more_body"):
                pass
        except Exception:
            await send({"type": "http.response.start", "status": 400, "headers": []})
            await send({"type": "http.response.body", "body": b"parse error"})

    status, body, _ = await call(limited(swallowing), body_chunks=[b"x" * 600] * 3)
    assert (status, json.loads(body)) == (413, TOO_LARGE)


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([(f"x-h{n}", "v") for n in range(21)], id="too-many"),
        pytest.param([("x-big", "v" * 4100)], id="too-large"),
    ],
)
async def test_oversized_heads_are_431(headers):
    app = Recorder()
    status, body, _ = await call(limited(app), method="GET", headers=headers)
    assert (status, json.loads(body)) == (431, HEADERS_TOO_LARGE)
    assert not app.called


async def test_bounded_heads_pass():
    headers = [(f"x-h{n}", "v" * 100) for n in range(19)]
    status, _, _ = await call(limited(Recorder()), method="GET", headers=headers)
    assert status == 200


# -- the real app --


def _bulk(items: int, description: int = 10_000, tags: int = 20) -> list[dict]:
    return [
        {
            "title": f"Item {n}",
            "description": "d" * description,
            "tags": [f"tag-number-{t:02d}-of-item" for t in range(tags)],
        }
        for n in range(items)
    ]


async def test_the_largest_bulk_the_contract_allows_fits(client, alice, db_scalar):
    body = json.dumps(_bulk(500)).encode()
    assert get_settings().max_body_bytes < len(body) < get_settings().max_bulk_body_bytes
    response = await client.post("/items/bulk", content=body, headers={**alice.headers, **JSON})
    assert response.status_code == 201, response.text[:300]
    assert response.json()["created"] == 500
    assert await db_scalar("SELECT count(*) FROM items") == 500


async def test_a_bulk_over_its_cap_is_413_and_nothing_is_written(client, alice, db_scalar):
    cap = get_settings().max_bulk_body_bytes
    body = b"[" + b" " * cap + b"]"
    response = await client.post("/items/bulk", content=body, headers={**alice.headers, **JSON})
    assert response.status_code == 413
    assert response.json() == TOO_LARGE
    response = await client.post(
        "/items/bulk", content=chunks(cap + 1), headers={**alice.headers, **JSON}
    )
    assert response.status_code == 413
    assert response.json() == TOO_LARGE
    assert await db_scalar("SELECT count(*) FROM items") == 0


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_other_routes_have_the_default_cap(client, alice, db_scalar, chunked):
    size = get_settings().max_body_bytes + 1
    content = chunks(size) if chunked else b" " * size
    response = await client.post("/items", content=content, headers={**alice.headers, **JSON})
    assert response.status_code == 413
    assert response.json() == TOO_LARGE
    assert await db_scalar("SELECT count(*) FROM items") == 0


@pytest.mark.parametrize("token", [None, "not-a-token"], ids=["no-token", "bad-token"])
async def test_an_oversized_body_on_a_protected_route_is_413_not_401(client, token):
    headers = {**JSON, **({"Authorization": f"Bearer {token}"} if token else {})}
    size = get_settings().max_body_bytes + 1
    response = await client.post("/items", content=b" " * size, headers=headers)
    assert response.status_code == 413
    assert response.json() == TOO_LARGE


async def test_a_body_at_the_cap_reaches_the_route(client, alice):
    size = get_settings().max_body_bytes
    body = json.dumps({"title": "padded"}).encode()
    body += b" " * (size - len(body))
    response = await client.post("/items", content=body, headers={**alice.headers, **JSON})
    assert response.status_code == 201, response.text


async def test_login_form_over_the_cap_is_413(client):
    size = get_settings().max_body_bytes + 1
    response = await client.post(
        "/auth/jwt/login",
        content=chunks(size),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    assert response.json() == TOO_LARGE


async def test_too_many_headers_are_431_through_the_app(client):
    headers = {f"x-extra-{n}": "v" for n in range(get_settings().max_header_count + 1)}
    response = await client.get("http://test/health", headers=headers)
    assert response.status_code == 431
    assert response.json() == HEADERS_TOO_LARGE


async def test_413_carries_a_request_id(client):
    response = await client.post(
        "/items", content=b" " * (get_settings().max_body_bytes + 1), headers=JSON
    )
    assert response.status_code == 413
    assert response.headers["x-request-id"]


async def test_an_unread_chunked_body_does_not_stop_an_answer():
    """A route that answers without reading (a 401 before the body) answers as it likes: a
    chunked body's size is only known once read, and nobody read it."""
    app = Recorder(read_body=False)
    status, _, pulled = await call(limited(app), body_chunks=[b"x" * 600] * 3)
    assert status == 200
    assert pulled == 0


async def test_websocket_and_lifespan_pass_through():
    seen = []

    async def app(scope, receive, send):
        seen.append(scope["type"])

    await limited(app)({"type": "lifespan"}, None, None)
    assert seen == ["lifespan"]


def test_httpx_sends_an_async_generator_chunked():
    request = httpx.Request("POST", "http://test/x", content=chunks(10))
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"


async def test_a_request_without_a_body_is_passed_through_untouched():
    app = Recorder()
    scope = {"type": "http", "method": "GET", "path": "/x", "headers": []}
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    await limited(app)(scope, receive, send)
    assert app.called
    assert sent[0]["status"] == 200

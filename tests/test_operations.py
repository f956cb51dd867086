"""Request ids, one structured log line per request, and the Prometheus metrics."""

import io
import json
import logging
import re

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import PASSWORD
from core.config import Settings, get_settings
from core.db import engine
from core.logs import configure_logging, valid_request_id
from main import create_app

ITEM_ROUTE = "/api/v1/items/{item_id}"


class Captured:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def text(self) -> str:
        # the app's lines, not those of the test's own HTTP client (httpx logs its requests)
        return "\n".join(
            line for line in self.stream.getvalue().splitlines() if '"logger": "httpx"' not in line
        )

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.text.splitlines() if line.startswith("{")]

    def requests(self) -> list[dict]:
        return [line for line in self.lines() if line.get("event") == "request"]


@pytest.fixture
def captured_logs():
    """Every log line the app writes during the test, as JSON lines."""
    stream = io.StringIO()
    configure_logging(Settings(_env_file=None, log_format="json"), stream=stream)
    yield Captured(stream)
    configure_logging(get_settings())


# -- X-Request-ID --


@pytest.mark.parametrize(
    "sent", ["abc-123", "x", "~" * 128, "550e8400-e29b-41d4-a716-446655440000"]
)
async def test_a_callers_request_id_is_kept(client, captured_logs, sent):
    response = await client.get("http://test/health", headers={"X-Request-ID": sent})
    assert response.headers["x-request-id"] == sent
    assert captured_logs.requests()[-1]["request_id"] == sent


@pytest.mark.parametrize(
    "sent",
    ["", "a" * 129, "has space", "tab\there", "caf\u00e9"],
    ids=["empty", "too-long", "space", "tab", "non-ascii"],
)
async def test_an_unfit_request_id_is_replaced(client, captured_logs, sent):
    response = await client.get(
        "http://test/health", headers=[("X-Request-ID", sent.encode("utf-8"))]
    )
    new = response.headers["x-request-id"]
    assert new != sent
    assert re.fullmatch(r"[0-9a-f]{32}", new)
    assert captured_logs.requests()[-1]["request_id"] == new


async def test_each_request_without_an_id_gets_its_own(client):
    first = await client.get("http://test/health")
    second = await client.get("http://test/health")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


def test_request_id_rule():
    assert valid_request_id("!")
    assert not valid_request_id("\x7f")
    assert not valid_request_id("a\nb")


# -- the request line --


async def test_one_line_per_request_with_the_route_template(
    client, alice, create_item, captured_logs
):
    item = await create_item(alice)
    response = await client.get(
        f"/items/{item['id']}", headers={**alice.headers, "X-Request-ID": "trace-42"}
    )
    assert response.status_code == 200
    lines = [line for line in captured_logs.requests() if line["request_id"] == "trace-42"]
    assert len(lines) == 1
    line = lines[0]
    assert line["method"] == "GET"
    assert line["route"] == ITEM_ROUTE
    assert item["id"] not in json.dumps(line)
    assert line["status"] == 200
    assert line["user_id"] == alice.id
    assert line["level"] == "info"
    assert line["logger"] == "items_api.request"
    assert isinstance(line["duration_ms"], float | int)
    assert line["duration_ms"] >= 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", line["timestamp"])


async def test_unknown_routes_are_not_logged_by_their_raw_path(client, captured_logs):
    response = await client.get("/secret-looking/path/12345")
    assert response.status_code == 404
    line = captured_logs.requests()[-1]
    assert line["route"] == "<unmatched>"
    assert line["user_id"] is None
    assert "12345" not in captured_logs.text


async def test_error_lines_carry_the_request_id(client, captured_logs, monkeypatch, tmp_path):
    from sqlalchemy.ext.asyncio import create_async_engine

    from core import health

    unreachable = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'x.db'}")
    monkeypatch.setattr(health, "engine", unreachable)
    try:
        response = await client.get("http://test/health/ready", headers={"X-Request-ID": "rq-9"})
    finally:
        await unreachable.dispose()
    assert response.status_code == 503
    lines = [line for line in captured_logs.lines() if line.get("request_id") == "rq-9"]
    levels = {line["level"] for line in lines}
    assert "warning" in levels  # the failed check
    assert any(line.get("event") == "request" and line["status"] == 503 for line in lines)


async def test_no_password_token_or_body_reaches_a_log_line(client, captured_logs, alice):
    password = "Sup3r-secret-passphrase"
    new_password = "An0ther-secret-passphrase"
    body_marker = "body-marker-7c1e"
    registered = await client.post(
        "/auth/register",
        json={"email": "carol@example.com", "username": "carol", "password": password},
    )
    assert registered.status_code == 201
    login = await client.post("/auth/jwt/login", data={"username": "carol", "password": password})
    assert login.status_code == 200
    tokens = [value for key, value in login.json().items() if "token" in key and value != "bearer"]
    auth = {"Authorization": f"Bearer {tokens[0]}"}
    assert (
        await client.post(
            "/items", json={"title": body_marker, "description": body_marker}, headers=auth
        )
    ).status_code == 201
    changed = await client.patch(
        "/users/me", json={"password": new_password, "current_password": password}, headers=auth
    )
    assert changed.status_code == 200
    wrong = await client.post("/auth/jwt/login", data={"username": "alice", "password": password})
    assert wrong.status_code == 400
    await client.get(f"/items?search={body_marker}", headers=alice.headers)
    await client.post("/auth/reset-password", json={"token": "reset-tok-xyz", "password": password})

    request_lines = captured_logs.requests()
    assert len(request_lines) >= 7
    text = "\n".join(
        line
        for line in captured_logs.text.splitlines()
        if '"logger": "features.auth.email"' not in line  # the development sender prints mails
    )
    for secret in [password, new_password, body_marker, "reset-tok-xyz", PASSWORD, *tokens]:
        assert secret not in text
    assert alice.token not in text
    assert "Bearer" not in text


async def test_text_format_is_readable(client):
    stream = io.StringIO()
    configure_logging(Settings(_env_file=None, log_format="text"), stream=stream)
    try:
        await client.get("http://test/health", headers={"X-Request-ID": "txt-1"})
    finally:
        configure_logging(get_settings())
    line = next(line for line in stream.getvalue().splitlines() if "txt-1" in line)
    assert not line.startswith("{")
    assert "request" in line
    assert "route=/health" in line
    assert "status=200" in line


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_logged_traceback_shows_no_local_variables(log_format):
    # a frame's locals may hold a password or a token (rich-style tracebacks print them)
    stream = io.StringIO()
    configure_logging(Settings(_env_file=None, log_format=log_format), stream=stream)
    try:
        password = "traceback-secret-4d2f"
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("features.items.service").exception("failed for %d", len(password))
    finally:
        configure_logging(get_settings())
    text = stream.getvalue()
    assert "RuntimeError: boom" in text
    assert "failed for 21" in text
    assert "traceback-secret-4d2f" not in text


def test_json_is_the_default_in_production():
    assert Settings(_env_file=None, environment="production").log_json
    assert not Settings(_env_file=None).log_json
    assert not Settings(_env_file=None, environment="production", log_format="text").log_json


def test_uvicorns_access_line_is_replaced():
    configure_logging(get_settings())
    access = logging.getLogger("uvicorn.access")
    assert access.disabled
    assert not access.handlers
    assert logging.getLogger("uvicorn.error").propagate


# -- /metrics --


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def _metrics(client) -> dict:
    response = await client.get("http://test/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return _samples(response.text)


async def test_metrics_count_requests_by_route_template(client, alice, create_item):
    item = await create_item(alice)
    key = (
        "http_requests_total",
        (("method", "GET"), ("route", ITEM_ROUTE), ("status", "200")),
    )
    before = (await _metrics(client)).get(key, 0.0)
    for _ in range(3):
        assert (await client.get(f"/items/{item['id']}", headers=alice.headers)).status_code == 200
    after = await _metrics(client)
    assert after[key] == before + 3
    bucket = (
        "http_request_duration_seconds_count",
        (("method", "GET"), ("route", ITEM_ROUTE), ("status", "200")),
    )
    assert after[bucket] >= 3
    assert ("http_requests_in_progress", (("method", "GET"),)) in after
    # the scrape itself is in progress while it is answered
    assert after[("http_requests_in_progress", (("method", "GET"),))] >= 1


async def test_metrics_show_the_pools_connections_in_use(client, alice):
    await client.get("/users/me", headers=alice.headers)
    samples = await _metrics(client)
    assert samples[("db_pool_connections_in_use", ())] == engine.pool.checkedout()


async def test_metrics_are_outside_the_api_prefix(client):
    assert (await client.get("/metrics")).status_code == 404


async def test_metrics_can_be_turned_off():
    app = create_app(Settings(_env_file=None, metrics_enabled=False))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/metrics")).status_code == 404
        assert (await client.get("/health")).status_code == 200


async def test_odd_methods_do_not_make_new_metric_labels(client):
    response = await client.request("BREW", "http://test/health")
    assert response.status_code == 405
    samples = await _metrics(client)
    methods = {
        dict(labels).get("method") for name, labels in samples if name == "http_requests_total"
    }
    assert "BREW" not in methods
    assert "OTHER" in methods


def test_serve_sets_the_variable_prometheus_reads():
    import serve
    from core import metrics

    assert serve.MULTIPROC_DIR_VARIABLE == metrics.MULTIPROC_DIR_VARIABLE

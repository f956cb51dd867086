"""/openapi.json declares what conditional requests, idempotent retries and keyset pages add:
the headers each route reads and answers with, and the statuses they can bring."""

import pytest

PREFIX = "/api/v1"
IDEMPOTENT = {
    ("post", "/items"): "201",
    ("post", "/items/bulk"): "201",
    ("post", "/items/{item_id}/transfer"): "200",
    ("post", "/items/{item_id}/comments"): "201",
}
CONDITIONAL = [
    ("patch", "/items/{item_id}"),
    ("put", "/items/{item_id}"),
    ("delete", "/items/{item_id}"),
    ("post", "/items/{item_id}/transfer"),
]


@pytest.fixture(scope="module")
def spec(app):
    return app.openapi()


def operation(spec, method, path):
    return spec["paths"][PREFIX + path][method]


def header_names(op):
    return {p["name"] for p in op.get("parameters", []) if p["in"] == "header"}


@pytest.mark.parametrize(("method", "path"), IDEMPOTENT)
def test_idempotent_creates_declare_the_key_its_errors_and_the_replay_header(spec, method, path):
    op = operation(spec, method, path)
    [key] = [p for p in op["parameters"] if p["name"] == "Idempotency-Key"]
    assert key["in"] == "header"
    assert (key["schema"]["minLength"], key["schema"]["maxLength"]) == (1, 255)
    responses = op["responses"]
    assert "IDEMPOTENCY_KEY_INVALID" in responses["400"]["description"]
    assert "IDEMPOTENCY_KEY_IN_PROGRESS" in responses["409"]["description"]
    assert "IDEMPOTENCY_KEY_REUSED" in responses["422"]["description"]
    success = responses[IDEMPOTENT[(method, path)]]
    assert "Idempotent-Replayed" in success["headers"]
    assert "content" in success  # the answer's schema is still there


def test_only_the_creates_take_a_key(spec):
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            keyed = "Idempotency-Key" in header_names(op)
            assert keyed == ((method, path.removeprefix(PREFIX)) in IDEMPOTENT), (method, path)


@pytest.mark.parametrize(("method", "path"), CONDITIONAL)
def test_writes_declare_if_match_and_412(spec, method, path):
    op = operation(spec, method, path)
    assert "If-Match" in header_names(op)
    assert "PRECONDITION_FAILED" in op["responses"]["412"]["description"]


def test_read_declares_if_none_match_304_and_etag(spec):
    op = operation(spec, "get", "/items/{item_id}")
    assert "If-None-Match" in header_names(op)
    assert "304" in op["responses"]
    assert "ETag" in op["responses"]["200"]["headers"]


@pytest.mark.parametrize("path", ["/items", "/items/{item_id}/comments"])
def test_keyset_lists_declare_cursor_total_and_next_cursor(spec, path):
    op = operation(spec, "get", path)
    query = {p["name"] for p in op["parameters"] if p["in"] == "query"}
    assert {"cursor", "include_total", "skip", "limit"} <= query
    assert "INVALID_CURSOR" in op["responses"]["400"]["description"]
    page = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][page.rsplit("/", 1)[1]]
    assert {"items", "total", "skip", "limit", "next_cursor"} <= set(schema["required"])


def test_the_item_list_declares_its_sort_orders(spec):
    [sort] = [p for p in operation(spec, "get", "/items")["parameters"] if p["name"] == "sort"]
    ref = sort["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(spec["components"]["schemas"][ref]["enum"]) == {
        "-created_at",
        "created_at",
        "-updated_at",
        "updated_at",
        "title",
        "-title",
    }
    assert sort["schema"]["default"] == "-created_at"

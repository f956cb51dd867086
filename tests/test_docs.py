"""/docs and /redoc render offline: every asset they load is served by the app itself."""

import re

import pytest

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
STATIC_PREFIX = "/static-offline-docs/"


@pytest.mark.parametrize(
    ("page", "expected_assets"),
    [
        ("/docs", {"swagger-ui-bundle.js", "swagger-ui.css"}),
        ("/redoc", {"redoc.standalone.js"}),
    ],
)
async def test_docs_pages_load_only_local_assets(client, page, expected_assets):
    response = await client.get(f"http://test{page}")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "http://" not in html
    assert "https://" not in html
    assert "cdn" not in html.lower()

    assets = ASSET.findall(html)
    assert assets, html
    assert all(asset.startswith(STATIC_PREFIX) for asset in assets), assets
    assert {asset.removeprefix(STATIC_PREFIX) for asset in assets} >= expected_assets
    assert "/openapi.json" in html

    for asset in assets:
        served = await client.get(f"http://test{asset}")
        assert served.status_code == 200, asset
        assert len(served.content) > 100, asset


@pytest.mark.parametrize(
    ("asset", "content_type"),
    [
        ("swagger-ui-bundle.js", "javascript"),
        ("swagger-ui.css", "text/css"),
        ("redoc.standalone.js", "javascript"),
    ],
)
async def test_assets_have_their_content_types(client, asset, content_type):
    response = await client.get(f"http://test{STATIC_PREFIX}{asset}")
    assert response.status_code == 200
    assert content_type in response.headers["content-type"]


async def test_openapi_schema_is_served_and_documents_the_api(client):
    response = await client.get("http://test/openapi.json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in [
        "/api/v1/auth/register",
        "/api/v1/auth/jwt/login",
        "/api/v1/users/me",
        "/api/v1/users/{user_id}",
        "/health/ready",
    ]:
        assert path in paths
    assert "bearer" in str(response.json()["components"]["securitySchemes"]).lower()

"""GET /items: visibility, paging, order, owner_only, tag and literal, case-insensitive search."""

import pytest


async def bulk(client, account, bodies):
    response = await client.post("/items/bulk", json=bodies, headers=account.headers)
    assert response.status_code == 201, response.text
    return response.json()["items"]


async def titles(client, account, **params):
    response = await client.get("/items", params=params, headers=account.headers)
    assert response.status_code == 200, response.text
    return [item["title"] for item in response.json()["items"]]


async def test_each_caller_sees_own_and_public_items_a_superuser_all(
    client, create_item, alice, bob, admin
):
    await create_item(alice, "alice private")
    await create_item(alice, "alice public", is_public=True)
    await create_item(bob, "bob private")
    await create_item(bob, "bob public", is_public=True)

    assert await titles(client, alice) == ["bob public", "alice public", "alice private"]
    assert await titles(client, bob) == ["bob public", "bob private", "alice public"]
    assert len(await titles(client, admin)) == 4
    assert await titles(client, alice, owner_only=True) == ["alice public", "alice private"]
    assert await titles(client, admin, owner_only=True) == []


async def test_page_shape_total_and_paging(client, create_item, alice):
    for n in range(5):
        await create_item(alice, f"item {n}")
    response = await client.get("/items", params={"skip": 1, "limit": 2}, headers=alice.headers)
    body = response.json()
    assert (body["total"], body["skip"], body["limit"]) == (5, 1, 2)
    assert [item["title"] for item in body["items"]] == ["item 3", "item 2"]
    default = (await client.get("/items", headers=alice.headers)).json()
    assert (default["skip"], default["limit"]) == (0, 10)
    beyond = (await client.get("/items", params={"skip": 50}, headers=alice.headers)).json()
    assert (beyond["items"], beyond["total"]) == ([], 5)


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"skip": -1}, {"limit": "x"}, {"owner_only": "perhaps"}],
)
async def test_bad_paging_is_422(client, alice, params):
    response = await client.get("/items", params=params, headers=alice.headers)
    assert response.status_code == 422


async def test_limit_100_is_allowed(client, alice):
    response = await client.get("/items", params={"limit": 100}, headers=alice.headers)
    assert response.status_code == 200


async def test_newest_first_ties_broken_by_id_descending(client, create_item, alice):
    # one INSERT for the batch: rows created by one statement share created_at
    items = await bulk(client, alice, [{"title": f"same {n}"} for n in range(6)])
    assert len({item["created_at"] for item in items}) == 1
    newer = await create_item(alice, "newer")
    listed = (await client.get("/items", headers=alice.headers)).json()["items"]
    assert listed[0]["id"] == newer["id"]
    tied = [item["id"] for item in listed[1:]]
    assert tied == sorted((item["id"] for item in items), reverse=True)
    # paging through ties neither repeats nor skips
    seen = []
    for skip in range(0, 7, 2):
        page = await client.get("/items", params={"skip": skip, "limit": 2}, headers=alice.headers)
        seen += [item["id"] for item in page.json()["items"]]
    assert seen == [item["id"] for item in listed]


async def test_tag_filter_is_case_insensitive_and_respects_visibility(
    client, create_item, alice, bob
):
    await create_item(alice, "tagged", tags=["Garden"])
    await create_item(alice, "other", tags=["kitchen"])
    await create_item(bob, "bob's private", tags=["garden"])
    await create_item(bob, "bob's public", tags=["GARDEN"], is_public=True)
    assert await titles(client, alice, tag="GARDEN") == ["bob's public", "tagged"]
    assert await titles(client, alice, tag=" garden ") == ["bob's public", "tagged"]
    assert await titles(client, alice, tag="nothing") == []
    body = (await client.get("/items", params={"tag": "garden"}, headers=alice.headers)).json()
    assert body["total"] == 2


@pytest.mark.parametrize("tag", ["", "x" * 31, "nul\x00"])
async def test_bad_tag_filter_is_422(client, alice, tag):
    response = await client.get("/items", params={"tag": tag}, headers=alice.headers)
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("100%", ["100% cotton"]),
        ("%", ["100% cotton"]),
        ("_", ["snake_case"]),
        ("e_c", ["snake_case"]),
        ("a\\b", ["path a\\b"]),
        ("\\", ["path a\\b"]),
        ("\\%", []),
        ("SNAKE", ["snake_case", "snakeXcase"]),
        ("CoTTon", ["100% cotton", "1000 cotton"]),
        ("äpfel", ["ÄPFEL und Birnen"]),
        ("ÄPFEL", ["ÄPFEL und Birnen"]),
        ("birnen", ["ÄPFEL und Birnen"]),
        ("ΣΟΦΊΑ", ["σοφία"]),
        ("STRASSE", ["Große Straße"]),
        ("große", ["Große Straße"]),
        ("日本", ["日本語"]),
        (
            "",
            [
                "日本語",
                "σοφία",
                "Große Straße",
                "ÄPFEL und Birnen",
                "path a\\b",
                "snake_case",
                "snakeXcase",
                "100% cotton",
                "1000 cotton",
            ],
        ),
        ("no such", []),
    ],
)
async def test_search_is_a_literal_case_insensitive_substring(
    client, create_item, alice, search, expected
):
    for title in [
        "1000 cotton",
        "100% cotton",
        "snakeXcase",
        "snake_case",
        "path a\\b",
        "ÄPFEL und Birnen",
        "Große Straße",
        "σοφία",
        "日本語",
    ]:
        await create_item(alice, title)
    assert await titles(client, alice, search=search, limit=100) == expected


async def test_search_combines_with_other_filters_and_counts(client, create_item, alice, bob):
    await create_item(alice, "red chair", tags=["furniture"])
    await create_item(alice, "red table")
    await create_item(bob, "red lamp", is_public=True, tags=["furniture"])
    await create_item(bob, "red secret")
    body = (
        await client.get(
            "/items", params={"search": "RED", "tag": "Furniture"}, headers=alice.headers
        )
    ).json()
    assert [item["title"] for item in body["items"]] == ["red lamp", "red chair"]
    assert body["total"] == 2
    assert await titles(client, alice, search="red", owner_only=True) == ["red table", "red chair"]


async def test_search_follows_title_changes(client, create_item, alice):
    item = await create_item(alice, "Old Name")
    await client.patch(f"/items/{item['id']}", json={"title": "NEW name"}, headers=alice.headers)
    assert await titles(client, alice, search="old") == []
    assert await titles(client, alice, search="new NAME") == ["NEW name"]


@pytest.mark.parametrize("search", ["nul\x00", "x" * 301])
async def test_bad_search_is_422(client, alice, search):
    response = await client.get("/items", params={"search": search}, headers=alice.headers)
    assert response.status_code == 422


async def test_the_largest_skip_answers_an_empty_page(client, create_item, alice):
    await create_item(alice)
    response = await client.get("/items", params={"skip": 2**31 - 1}, headers=alice.headers)
    assert response.status_code == 200
    body = response.json()
    assert (body["items"], body["total"], body["next_cursor"]) == ([], 1, None)

async def test_register_login_me(client):
    response = await client.post(
        "/auth/register",
        json={"email": "Carol@Example.com", "username": "carol", "password": "long-enough-pw"},
    )
    assert response.status_code == 201, response.text
    login = await client.post(
        "/auth/jwt/login", data={"username": "CAROL", "password": "long-enough-pw"}
    )
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    me = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["username"] == "carol"


async def test_me_with_fixture(client, alice):
    me = await client.get("/users/me", headers=alice.headers)
    assert me.status_code == 200, me.text
    print(me.json())


async def test_list(client, admin, alice):
    r = await client.get("/users", headers=admin.headers)
    assert r.status_code == 200, r.text
    assert [u["username"] for u in r.json()["items"]] == ["admin", "alice"]

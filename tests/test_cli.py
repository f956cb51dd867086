"""`python -m cli create-superuser`: creates, promotes, refuses bad input in one line."""

import pytest

import cli


async def test_creates_a_superuser_who_can_log_in(client, db_scalar):
    message = await cli.create_superuser(
        email="root@example.com", username="root", password="long-enough-pass"
    )

    assert message == "created superuser root"
    assert await db_scalar("SELECT is_superuser FROM users WHERE username = 'root'")
    login = await client.post(
        "/auth/jwt/login", data={"username": "root", "password": "long-enough-pass"}
    )
    assert login.status_code == 200
    me = await client.get(
        "/users/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"}
    )
    assert me.json()["is_superuser"] is True


async def test_promotes_an_existing_user_and_is_idempotent(alice, db_scalar):
    first = await cli.create_superuser(
        email="ALICE@example.com", username="alice", password="irrelevant-here"
    )
    second = await cli.create_superuser(
        email="alice@example.com", username="alice", password="irrelevant-here"
    )

    assert first == "promoted alice to superuser"
    assert second == "alice is already a superuser"
    assert await db_scalar("SELECT count(*) FROM users") == 1
    assert await db_scalar("SELECT is_superuser FROM users WHERE username = 'alice'")


@pytest.mark.parametrize(
    ("email", "username", "password", "message"),
    [
        ("root@example.com", "root", "short", "password: Password must be 8 to 128 characters"),
        ("not-an-email", "root", "long-enough-pass", "email: value is not a valid email"),
        ("root@example.com", "r", "long-enough-pass", "username: String should have at least 3"),
    ],
)
async def test_bad_input_is_refused_without_writing(email, username, password, message, db_scalar):
    with pytest.raises(cli.CommandError, match=message):
        await cli.create_superuser(email=email, username=username, password=password)

    assert await db_scalar("SELECT count(*) FROM users") == 0


async def test_email_and_username_of_two_different_users_is_refused(alice, bob, db_scalar):
    with pytest.raises(cli.CommandError, match="two different users"):
        await cli.create_superuser(
            email="alice@example.com", username="bob", password="long-enough-pass"
        )

    assert await db_scalar("SELECT count(*) FROM users WHERE is_superuser") == 0


# main() runs its own event loop and disposes the engine at the end: no connection of the
# test's may be checked out meanwhile
@pytest.mark.commits
def test_main_reports_bad_input_on_one_line_with_exit_code_2(capsys, monkeypatch):
    async def refuse(**_kwargs):
        raise cli.CommandError("password: too short")

    monkeypatch.setattr(cli, "create_superuser", refuse)
    code = cli.main(
        ["create-superuser", "--email", "a@b.io", "--username", "abc", "--password", "x"]
    )

    assert code == 2
    assert capsys.readouterr().err == "error: password: too short\n"

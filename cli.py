"""Administration commands: `python -m cli create-superuser --email … --username …`,
`python -m cli prune-idempotency-keys` (run it from cron: expired keys are removed)."""

import argparse
import asyncio
import getpass
import sys
from collections.abc import Coroutine
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from core.codes import ErrorCode
from core.db import engine, session_factory
from core.errors import BadRequest
from core.idempotency import prune_expired
from features.auth.email import LoggingEmailSender
from features.auth.manager import UserDatabase, UserManager
from features.auth.throttle import get_login_throttle
from features.users.models import User, UserCreate


class CommandError(Exception):
    """A problem with the command's input, reported in one line."""


async def create_superuser(*, email: str, username: str, password: str) -> str:
    """Create a superuser, or promote the existing user with this e-mail or username."""
    # the command is one unit of work, like a request: committed only when it succeeded
    async with session_factory() as session:
        message = await _create_or_promote(session, email, username, password)
        await session.commit()
        return message


async def _create_or_promote(
    session: AsyncSession, email: str, username: str, password: str
) -> str:
    manager = UserManager(UserDatabase(session, User), LoggingEmailSender(), get_login_throttle())
    by_email = await manager.find_by_login(email)
    by_username = await manager.find_by_login(username)
    if by_email and by_username and by_email.id != by_username.id:
        raise CommandError("the e-mail and the username belong to two different users")
    existing = by_email or by_username
    if existing is not None:
        if existing.is_superuser and existing.is_active:
            return f"{existing.username} is already a superuser"
        await manager.update_fields(existing, {"is_superuser": True, "is_active": True})
        return f"promoted {existing.username} to superuser"
    try:
        user_create = UserCreate(email=email, username=username, password=password)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise CommandError(problems) from None
    try:
        user = await manager.register(user_create)
    except BadRequest as error:
        if error.code is ErrorCode.REGISTER_INVALID_PASSWORD:
            raise CommandError(f"password: {error.reason}") from None
        raise CommandError("a user with this e-mail or username already exists") from None
    await manager.update_fields(user, {"is_superuser": True, "is_verified": True})
    return f"created superuser {user.username}"


async def prune_idempotency_keys() -> str:
    """Delete the Idempotency-Keys whose answers have expired."""
    async with session_factory() as session:
        removed = await prune_expired(session=session)
        await session.commit()
    return f"removed {removed} expired idempotency keys"


async def _run_then_dispose(command: Coroutine[Any, Any, str]) -> str:
    try:
        return await command
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cli")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser(
        "create-superuser", help="create a superuser, or promote an existing user"
    )
    create.add_argument("--email", required=True)
    create.add_argument("--username", required=True)
    create.add_argument(
        "--password", help="asked for when left out (keeps it out of the shell history)"
    )
    commands.add_parser("prune-idempotency-keys", help="delete expired Idempotency-Keys")
    args = parser.parse_args(argv)

    if args.command == "prune-idempotency-keys":
        command = prune_idempotency_keys()
    else:
        password = args.password or getpass.getpass("Password: ")
        command = create_superuser(email=args.email, username=args.username, password=password)
    try:
        message = asyncio.run(_run_then_dispose(command))
    except CommandError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(message)
    return 0


if __name__ == "__main__":
    sys.exit(main())

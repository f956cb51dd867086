"""Helpers shared by the auth tests."""

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from features.auth.email import EmailMessage, get_email_sender

# A JWT as it stands in a message's body or a log line.
TOKEN = re.compile(r"(eyJ[\w-]+\.[\w-]+\.[\w-]+)")


class Outbox(list[EmailMessage]):
    """The messages that would have been e-mailed."""

    async def send(self, message: EmailMessage) -> None:
        self.append(message)

    def token(self) -> str:
        [message] = self
        match = TOKEN.search(message.body)
        assert match, message.body
        return match.group(1)


@pytest.fixture
def outbox(app: FastAPI) -> Iterator[Outbox]:
    """Capture every e-mail the app sends, instead of sending it, for the test's duration."""
    sender = Outbox()
    app.dependency_overrides[get_email_sender] = lambda: sender
    yield sender
    del app.dependency_overrides[get_email_sender]

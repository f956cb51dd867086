"""Where the messages that would be e-mailed go: a sender the deployment plugs in."""

import logging
from dataclasses import dataclass
from typing import Protocol

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EmailMessage:
    to: str
    subject: str
    body: str


class EmailSender(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


class LoggingEmailSender:
    """Development sender: writes the message to the log instead of mailing it."""

    async def send(self, message: EmailMessage) -> None:
        logger.info("e-mail to %s: %s\n%s", message.to, message.subject, message.body)


async def get_email_sender() -> EmailSender:
    """The sender in use; override this dependency to plug in a real one."""
    return LoggingEmailSender()

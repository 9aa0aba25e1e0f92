"""A real SMTP server for the tests (aiosmtpd, in a thread of its own): what the app mails, as received."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Received:
    message: EmailMessage
    seen: object  # what `on_receive` returned while the message was being received


@dataclass
class Mailbox:
    """Messages the server received. `refuse` makes it answer 554 to every message; `on_receive()` runs while a
    message is being received (for example to look at the database from another connection at that moment)."""

    host: str = "127.0.0.1"
    port: int = 0
    refuse: bool = False
    on_receive: Callable[[], object] | None = None
    received: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        if self.refuse:
            return "554 Transaction failed: refused by the test server"
        seen = self.on_receive() if self.on_receive else None
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.received.append(Received(message, seen))
        return "250 Message accepted for delivery"

    def settings(self) -> dict:
        return {"MAIL_SERVER": self.host, "MAIL_PORT": self.port, "MAIL_USE_TLS": False, "MAIL_USERNAME": ""}


def start(mailbox: Mailbox) -> Controller:
    mailbox.port = free_port()
    controller = Controller(mailbox, hostname=mailbox.host, port=mailbox.port)
    controller.start()
    return controller

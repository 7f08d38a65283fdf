"""A real SMTP server on loopback that keeps every message it receives, for mail tests.

Use the `smtp` fixture for the server and `mail_client` (tests/conftest.py) for an app that
sends to it. Mailer.send returns only after the server accepted the message, so a message is
in `smtp.messages` as soon as the request that sent it has answered.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

_LINK = re.compile(r"https?://\S+")


@dataclass
class Mailbox:
    """What the server received, in order."""

    port: int
    messages: list[EmailMessage] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def to(self, address: str) -> list[EmailMessage]:
        """Messages addressed to `address`, oldest first."""
        return [m for m in self.messages if address.lower() in str(m["To"]).lower()]

    def last_to(self, address: str) -> EmailMessage:
        found = self.to(address)
        assert found, f"no message to {address}; got {[str(m['To']) for m in self.messages]}"
        return found[-1]


def body_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def links_in(message: EmailMessage) -> list[str]:
    return _LINK.findall(body_of(message))


class _Collector:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.box.messages.append(parsed)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def smtp() -> Iterator[Mailbox]:
    """An aiosmtpd server on 127.0.0.1 at a free port, stopped after the test."""
    box = Mailbox(port=_free_port())
    controller = Controller(_Collector(box), hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()

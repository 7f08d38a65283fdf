"""Outgoing email: over SMTP when `SMTP_URL` is set, otherwise into the log."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from urllib.parse import unquote, urlparse

import aiosmtplib

log = logging.getLogger("connectnow.mail")


class Mailer:
    """Sends one message at a time; a failed send is logged, never raised to a request."""

    def __init__(self, smtp_url: str, sender: str) -> None:
        self.smtp_url = smtp_url
        self.sender = sender

    async def send(self, to: str, subject: str, text: str) -> bool:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(text)
        if not self.smtp_url:
            log.info("mail.logged to=%s subject=%r\n%s", to, subject, text)
            return True
        url = urlparse(self.smtp_url)
        try:
            await aiosmtplib.send(
                message,
                hostname=url.hostname or "127.0.0.1",
                port=url.port or (465 if url.scheme == "smtps" else 25),
                username=unquote(url.username) if url.username else None,
                password=unquote(url.password) if url.password else None,
                use_tls=url.scheme == "smtps",
                start_tls=True if url.scheme == "smtp+starttls" else False,
                timeout=10,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            log.warning("mail.failed to=%s subject=%r error=%s", to, subject, exc)
            return False
        log.info("mail.sent to=%s subject=%r", to, subject)
        return True

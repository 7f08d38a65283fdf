"""Request ids, one access log line per request, and a JSON 500 for real faults."""

from __future__ import annotations

import logging
import re
import time
import uuid
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("connectnow.access")
error_log = logging.getLogger("connectnow.errors")

_SECRET_KEYS = {"api_token", "token", "customer_token"}
_SECRET_IN_PATH = re.compile(
    r"^(/(?:api/)?(?:email/verify|invitations|reset-password)/)(?!resend$)[^/]+"
)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def redact(query_string: str) -> str:
    """Hide token values so that they never reach a log line, however the key is encoded."""
    pairs = parse_qsl(query_string, keep_blank_values=True)
    shown = [(key, "[redacted]" if key.lower() in _SECRET_KEYS else value) for key, value in pairs]
    return urlencode(shown, safe="[],:")


_CONTROL = re.compile(r"[\x00-\x20\x7f]")


def redact_path(path: str) -> str:
    """Hide the secrets of emailed links, and escape control characters and spaces.

    Paths arrive decoded: an encoded newline would otherwise forge a log line of its own.
    """
    escaped = _CONTROL.sub(lambda m: f"%{ord(m.group()):02X}", path)
    return _SECRET_IN_PATH.sub(r"\1[redacted]", escaped)


class RequestContext:
    """Gives each request an id (echoing a sane client one) and logs it once when done."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = sent if _REQUEST_ID.match(sent) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            error_log.exception(
                "request.failed request_id=%s path=%s", request_id, redact_path(scope["path"])
            )
            if not response_started:
                await _internal_error(send_with_id)
        finally:
            query = redact(scope.get("query_string", b"").decode("latin-1"))
            access_log.info(
                "request method=%s path=%s%s status=%s ms=%.1f request_id=%s",
                scope["method"],
                redact_path(scope["path"]),
                f"?{query}" if query else "",
                status,
                (time.perf_counter() - started) * 1000,
                request_id,
            )


async def _internal_error(send: Send) -> None:
    body = b'{"message":"Internal server error. The request id in X-Request-ID helps trace it."}'
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

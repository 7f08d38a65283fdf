"""A minimal keep-alive HTTP/1.1 client, so that the harness measures the server, not itself.

A hundred agents answering at once from one process: with httpx, the last request leaves
tens of milliseconds after the first. Here each connection is opened beforehand and a request
is one pre-built write, so the time measured is the server's.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import urlsplit


class RawConnection:
    """One open connection to the server; `post` sends an empty-bodied POST and times it."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.last_used = time.monotonic()

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def request(self, path: str, token: str) -> bytes:
        return (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Authorization: Bearer {token}\r\nAccept: application/json\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()

    async def post(self, request: bytes, limit_seconds: float = 30.0) -> tuple[int, float]:
        """Send a pre-built request; answers (status, seconds until the whole response)."""
        assert self.reader is not None and self.writer is not None, "open() first"
        began = time.perf_counter()
        self.writer.write(request)
        status = await asyncio.wait_for(self._response(self.reader), limit_seconds)
        return status, time.perf_counter() - began

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        """Send a whole request; answers the status and the body of the reply."""
        assert self.reader is not None and self.writer is not None, "open() first"
        self.writer.write(request)
        return await self._reply(self.reader)

    @staticmethod
    async def _response(reader: asyncio.StreamReader) -> int:
        status, _ = await RawConnection._reply(reader)
        return status

    @staticmethod
    async def _reply(reader: asyncio.StreamReader) -> tuple[int, bytes]:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        body = await reader.readexactly(length) if length else b""
        return status, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass


KEEP_ALIVE_SECONDS = 4.0


class RawResponse:
    """What the harness reads of a response: the status and the JSON body."""

    def __init__(self, status_code: int, body: bytes) -> None:
        self.status_code = status_code
        self.content = body

    def json(self) -> Any:
        return json.loads(self.content)


class RawPool:
    """Keep-alive connections to one server, handed out one request at a time.

    httpx spends about a millisecond of the client's CPU per request, and with many requests
    queued for its pool far more; at hundreds of requests a second the harness would measure
    itself. Here a request is one formatted write and one parsed reply, and waiting requests
    queue in O(1).
    """

    def __init__(self, base_url: str, size: int = 128, timeout: float = 30.0) -> None:
        address = urlsplit(base_url)
        self.host = address.hostname or "127.0.0.1"
        self.port = address.port or 80
        self.timeout = timeout
        self._idle: asyncio.Queue[RawConnection] = asyncio.Queue()
        self._slots = asyncio.Semaphore(size)
        self._open: set[RawConnection] = set()

    async def __aenter__(self) -> RawPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def get(self, path: str, headers: dict[str, str] | None = None) -> RawResponse:
        return await self.request("GET", path, None, headers)

    async def post(
        self,
        path: str,
        json: Any = None,
        headers: dict[str, str] | None = None,
        content: str | None = None,
    ) -> RawResponse:
        """POST `json` (encoded here) or `content` (already encoded) to `path`."""
        return await self.request("POST", path, json, headers, content)

    async def request(
        self,
        method: str,
        path: str,
        body: Any,
        headers: dict[str, str] | None,
        content: str | None = None,
    ) -> RawResponse:
        if content is not None:
            payload = content.encode()
        else:
            payload = b"" if body is None else json.dumps(body).encode()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                 "Accept: application/json", f"Content-Length: {len(payload)}"]  # fmt: skip
        if payload:
            lines.append("Content-Type: application/json")
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
        async with self._slots:
            connection = await self._connection()
            try:
                status, reply = await asyncio.wait_for(connection.exchange(request), self.timeout)
            except BaseException:
                self._open.discard(connection)
                await connection.close()
                raise
            connection.last_used = time.monotonic()
            self._idle.put_nowait(connection)
        return RawResponse(status, reply)

    async def _connection(self) -> RawConnection:
        """An idle connection the server has not timed out yet (uvicorn closes idle keep-alive
        connections after 5 s), else a new one."""
        while not self._idle.empty():
            idle = self._idle.get_nowait()
            if time.monotonic() - idle.last_used < KEEP_ALIVE_SECONDS:
                return idle
            self._open.discard(idle)
            await idle.close()
        connection = RawConnection(self.host, self.port)
        await connection.open()
        self._open.add(connection)
        return connection

    async def aclose(self) -> None:
        for connection in list(self._open):
            await connection.close()
        self._open.clear()

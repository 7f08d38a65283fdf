"""A minimal keep-alive HTTP/1.1 client for races, where httpx's own CPU would be measured.

A hundred agents answering at once from one process: with httpx, the last request leaves
tens of milliseconds after the first. Here each connection is opened beforehand and a request
is one pre-built write, so the time measured is the server's.
"""

from __future__ import annotations

import asyncio
import time


class RawConnection:
    """One open connection to the server; `post` sends an empty-bodied POST and times it."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

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

    @staticmethod
    async def _response(reader: asyncio.StreamReader) -> int:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if length:
            await reader.readexactly(length)
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass

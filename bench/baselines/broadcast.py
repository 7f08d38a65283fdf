"""A bare websocket broadcast: POST /broadcast sends its body to every connected client."""

from __future__ import annotations

import asyncio
import contextlib

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

CLIENTS: set[WebSocket] = set()


async def _send(client: WebSocket, text: str) -> None:
    with contextlib.suppress(Exception):
        await client.send_text(text)


async def broadcast(request: Request) -> JSONResponse:
    text = (await request.body()).decode()
    await asyncio.gather(*(_send(client, text) for client in list(CLIENTS)))
    return JSONResponse({"sent": len(CLIENTS)})


async def count(request: Request) -> JSONResponse:
    return JSONResponse({"connected": len(CLIENTS)})


async def agent(websocket: WebSocket) -> None:
    await websocket.accept()
    CLIENTS.add(websocket)
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect:
        pass
    finally:
        CLIENTS.discard(websocket)


app = Starlette(
    routes=[
        Route("/broadcast", broadcast, methods=["POST"]),
        Route("/connected", count),
        WebSocketRoute("/ws", agent),
    ]
)

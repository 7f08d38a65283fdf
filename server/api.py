"""Declares REST endpoints once: their routing, body model, auth and documentation."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.errors import ApiError, PayloadTooLarge, ValidationFailed
from server.validation import messages_from

if TYPE_CHECKING:
    from models.users import ApiToken, User
    from server.services import Services

Handler = Callable[["Ctx"], Awaitable[Any]]
M = TypeVar("M", bound=BaseModel)


@dataclass
class Ctx:
    """Everything a handler needs about one request, resolved before it runs."""

    request: Request
    services: Services
    path: dict[str, Any]
    query: QueryParams
    raw_body: dict[str, Any]
    body: Any = None
    user: User | None = None
    token: ApiToken | None = None
    customer_token: str | None = None

    @property
    def user_id(self) -> int:
        assert self.user is not None and self.user.id is not None
        return self.user.id

    @property
    def request_id(self) -> str:
        return str(getattr(self.request.state, "request_id", "-"))


@dataclass
class Endpoint:
    """One method on one path, as served and as documented."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    response: Any = None
    status: int = 200
    auth: str = "user"  # "user", "public" or "optional"
    params: Sequence[dict[str, Any]] = ()
    errors: Sequence[int] = ()
    extra_responses: dict[str, Any] = field(default_factory=dict)


class Api:
    """A registry of endpoints; each resource module adds to the shared one."""

    def __init__(self) -> None:
        self.endpoints: list[Endpoint] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        tag: str,
        body: type[BaseModel] | None = None,
        response: Any = None,
        status: int = 200,
        auth: str = "user",
        params: Sequence[dict[str, Any]] = (),
        errors: Sequence[int] = (),
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.endpoints.append(
                Endpoint(
                    method=method,
                    path=path,
                    handler=handler,
                    summary=summary,
                    tag=tag,
                    body=body,
                    response=response,
                    status=status,
                    auth=auth,
                    params=params,
                    errors=errors,
                )
            )
            return handler

        return register

    def starlette_routes(self) -> list[Route]:
        """Group endpoints by path so that an unknown method on a known path is a 405."""
        by_path: dict[str, dict[str, Endpoint]] = {}
        for endpoint in self.endpoints:
            by_path.setdefault(endpoint.path, {})[endpoint.method] = endpoint
        every = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        return [
            Route(path, _dispatcher(methods), methods=every) for path, methods in by_path.items()
        ]


api = Api()
_current: ContextVar[Ctx | None] = ContextVar("connectnow_request", default=None)


def current_ctx() -> Ctx | None:
    """The request this task is answering, for loaders that must respect who is asking."""
    return _current.get()


def _dispatcher(methods: dict[str, Endpoint]) -> Callable[[Request], Awaitable[Response]]:
    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        endpoint = methods.get(method)
        if endpoint is None:
            allowed = ", ".join(sorted(methods))
            return JSONResponse(
                {"message": f"The {request.method} method is not allowed here; use {allowed}."},
                status_code=405,
                headers={"Allow": allowed},
            )
        return await _run(endpoint, request)

    return dispatch


async def _run(endpoint: Endpoint, request: Request) -> Response:
    from server import access, auth

    services: Services = request.app.state.services
    try:
        await services.limiter.check(request, public=endpoint.auth == "public")
        raw = await _read_json(request, services.settings.max_body_bytes)
        ctx = Ctx(
            request=request,
            services=services,
            path=dict(request.path_params),
            query=request.query_params,
            raw_body=raw,
        )
        _current.set(ctx)
        await auth.authenticate(ctx, required=endpoint.auth == "user")
        if ctx.user is not None:
            # Read before the handler opens a session of its own: a handler that asks for them
            # then would hold one pooled connection while waiting for a second.
            await access.memberships(ctx)
        if endpoint.body is not None:
            ctx.body = parse_body(endpoint.body, ctx.raw_body)
        result = await endpoint.handler(ctx)
    except ApiError as exc:
        return error_response(exc)
    if isinstance(result, Response):
        return result
    if result is None and endpoint.status == 204:
        return Response(status_code=204)
    return JSONResponse(result, status_code=endpoint.status)


def error_response(exc: ApiError) -> JSONResponse:
    headers = {}
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


async def _read_json(request: Request, limit: int) -> dict[str, Any]:
    """The body as a JSON object; size-capped, and empty bodies read as `{}`."""
    if request.method in {"GET", "HEAD", "DELETE"} and not request.headers.get("content-length"):
        return {}
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The request body must be at most {limit} bytes.")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The request body must be at most {limit} bytes.")
        chunks.append(chunk)
    data = b"".join(chunks)
    if not data.strip():
        return {}
    try:
        parsed = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError("The request body must be valid JSON (UTF-8).") from exc
    except RecursionError as exc:
        raise ApiError("The request body nests arrays or objects too deeply.") from exc
    if not isinstance(parsed, dict):
        raise ValidationFailed({"body": ["The body must be a JSON object."]})
    try:
        # JSON escapes may spell lone UTF-16 surrogates, which no database or hash accepts.
        json.dumps(parsed, ensure_ascii=False).encode()
    except UnicodeEncodeError as exc:
        raise ValidationFailed(
            {
                "body": [
                    "The body must be valid Unicode text; escapes of lone surrogates "
                    "(\\ud800 to \\udfff) are not accepted."
                ]
            }
        ) from exc
    return parsed


def parse_body(model: type[M], raw: dict[str, Any]) -> M:
    """Validate a body, turning every broken rule into one 422 that lists them all."""
    data = {k: v for k, v in raw.items() if k != "api_token"}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(messages_from(exc, model)) from exc

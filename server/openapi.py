"""Builds the OpenAPI 3.1 document from the same models that validate requests."""

from __future__ import annotations

import re
from typing import Any, get_args, get_origin

from pydantic import BaseModel, TypeAdapter

from server.api import Api, Endpoint

_PATH_PARAM = re.compile(r"{(\w+)}")
_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No content",
    400: "Malformed request",
    401: "No token, or a bad one",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    410: "Link already used or expired",
    413: "Body too large",
    422: "Validation failed",
    429: "Rate limited",
}
_ERROR = {
    "type": "object",
    "required": ["message"],
    "properties": {
        "message": {"type": "string"},
        "errors": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
}
_LIST_PARAMS = [
    {
        "name": "with",
        "in": "query",
        "schema": {"type": "string"},
        "description": "Relations to include.",
    },
    {"name": "withCount", "in": "query", "schema": {"type": "string"}},
    {"name": "scopes", "in": "query", "schema": {"type": "string"}},
    {"name": "before", "in": "query", "schema": {"type": "string", "format": "date"}},
    {"name": "after", "in": "query", "schema": {"type": "string", "format": "date"}},
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
    {
        "name": "per_page",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 249},
    },
]


def _schema(annotation: Any, components: dict[str, Any]) -> dict[str, Any]:
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    schema = adapter.json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
    for name, definition in schema.pop("$defs", {}).items():
        components[name] = definition
    return schema


def _response_schema(endpoint: Endpoint, components: dict[str, Any]) -> dict[str, Any] | None:
    if endpoint.response is None:
        return None
    schema = _schema(endpoint.response, components)
    if get_origin(endpoint.response) is list:
        (item,) = get_args(endpoint.response)
        item_schema = _schema(item, components)
        page = {
            "type": "object",
            "required": ["current_page", "data", "per_page"],
            "properties": {
                "current_page": {"type": "integer"},
                "data": {"type": "array", "items": item_schema},
                "first_page_url": {"type": "string"},
                "from": {"type": ["integer", "null"]},
                "next_page_url": {"type": ["string", "null"]},
                "path": {"type": "string"},
                "per_page": {"type": "integer"},
                "prev_page_url": {"type": ["string", "null"]},
                "to": {"type": ["integer", "null"]},
            },
        }
        return {"oneOf": [schema, page]}
    if isinstance(endpoint.response, type) and issubclass(endpoint.response, BaseModel):
        components[endpoint.response.__name__] = endpoint.response.model_json_schema(
            ref_template="#/components/schemas/{model}", mode="serialization"
        )
        components[endpoint.response.__name__].pop("$defs", None)
        return {"$ref": f"#/components/schemas/{endpoint.response.__name__}"}
    return schema


def _operation_id(endpoint: Endpoint) -> str:
    module = endpoint.handler.__module__.rsplit(".", 1)[-1]
    return f"{endpoint.method.lower()}_{module}_{endpoint.handler.__name__}"


def _path_schema(name: str) -> dict[str, Any]:
    """Path ids are positive integers; `{token}` is the secret of an emailed link."""
    if name == "token":
        return {"type": "string", "minLength": 1}
    return {"type": "integer", "minimum": 1}


def _operation(endpoint: Endpoint, components: dict[str, Any]) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": _path_schema(name)}
        for name in _PATH_PARAM.findall(endpoint.path)
    ]
    if endpoint.method == "GET" and get_origin(endpoint.response) is list:
        params.extend(_LIST_PARAMS)
    elif endpoint.method == "GET":
        params.extend(_LIST_PARAMS[:2])
    params.extend(endpoint.params)
    operation: dict[str, Any] = {
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
        "operationId": _operation_id(endpoint),
        "parameters": params,
        "responses": {},
    }
    if endpoint.auth == "public":
        operation["security"] = []
    if endpoint.body is not None:
        body_schema = endpoint.body.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in body_schema.pop("$defs", {}).items():
            components[name] = definition
        components[endpoint.body.__name__] = body_schema
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": f"#/components/schemas/{endpoint.body.__name__}"}
                }
            },
        }
    success: dict[str, Any] = {"description": _STATUS_TEXT.get(endpoint.status, "OK")}
    schema = _response_schema(endpoint, components)
    if schema is not None and endpoint.status != 204:
        success["content"] = {"application/json": {"schema": schema}}
    operation["responses"][str(endpoint.status)] = success
    error_codes = {400, 401, 404, 405, 413, 422, 429, *endpoint.errors}
    if endpoint.auth == "public" and 401 not in endpoint.errors:
        error_codes.discard(401)
    for code in sorted(error_codes):
        operation["responses"][str(code)] = {
            "description": _STATUS_TEXT.get(code, "Error"),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    return operation


def document(registry: Api) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document of the REST API."""
    components: dict[str, Any] = {"Error": _ERROR}
    paths: dict[str, Any] = {}
    for endpoint in registry.endpoints:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(
            endpoint, components
        )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ConnectNow",
            "version": "0.1.0",
            "description": "Real-time query routing: companies, agents, skills, queues, queries.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }

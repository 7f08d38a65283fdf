"""Turns pydantic's errors into the field-by-field messages clients read."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if not str(p).startswith("function-")]
    return ".".join(parts) if parts else "body"


def _count(number: Any, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _sentence(field: str, error: Any, model: type[BaseModel] | None) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return f"The {field} field is required."
    if kind == "extra_forbidden":
        accepted = ", ".join(sorted(model.model_fields)) if model else ""
        return f"The {field} field is not accepted here; the accepted fields are: {accepted}."
    if kind in {"int_parsing", "int_type", "int_from_float"}:
        return f"The {field} field must be a whole number."
    if kind == "string_unicode":
        return f"The {field} field must be valid Unicode text."
    if kind in {"string_type"}:
        return f"The {field} field must be a string."
    if kind in {"list_type"}:
        return f"The {field} field must be an array."
    if kind in {"dict_type", "model_type", "model_attributes_type"}:
        return f"The {field} field must be an object."
    if kind == "string_too_short":
        return f"The {field} field must be at least {_count(ctx.get('min_length'), 'character')}."
    if kind == "string_too_long":
        return f"The {field} field must be at most {_count(ctx.get('max_length'), 'character')}."
    if kind in {"greater_than_equal", "greater_than", "less_than_equal", "less_than"}:
        words = {
            "greater_than_equal": "at least",
            "greater_than": "greater than",
            "less_than_equal": "at most",
            "less_than": "less than",
        }
        limit = next(iter(ctx.values()), "")
        return f"The {field} field must be {words[kind]} {limit}."
    if kind == "literal_error" or kind == "enum":
        return f"The {field} field must be one of: {ctx.get('expected', '')}."
    if kind == "too_long":
        return f"The {field} field must have at most {ctx.get('max_length')} items."
    if kind == "too_short":
        return f"The {field} field must have at least {ctx.get('min_length')} items."
    msg = str(error.get("msg", "is invalid"))
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
        return f"The {field} field {msg.rstrip('.')}."
    return f"The {field} field is invalid: {msg.rstrip('.')}."


def messages_from(exc: ValidationError, model: type[BaseModel] | None) -> dict[str, list[str]]:
    """Every broken rule, grouped by field, in the order pydantic found them."""
    errors: dict[str, list[str]] = {}
    for error in exc.errors():
        field = _field_name(tuple(error["loc"]))
        if field == "body" and model is not None:
            field, error = _named_in_message(error, model)
        errors.setdefault(field, []).append(_sentence(field, error, model))
    return errors


def _named_in_message(error: Any, model: type[BaseModel]) -> tuple[str, Any]:
    """Rules across fields are raised by the whole model; key them by the field they name.

    A model validator raising "source must be a URL ..." reports under `source`, not `body`.
    """
    msg = str(error.get("msg", ""))
    text = msg.removeprefix("Value error, ")
    first = text.split(" ", 1)[0]
    if first in model.model_fields and " " in text:
        return first, {**error, "msg": "Value error, " + text.split(" ", 1)[1]}
    return "body", error

"""Input field types shared by every request model: their rules and their messages."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlparse

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

_TRUE = {True, "1", "true"}
_FALSE = {False, "0", "false"}


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | str) and not isinstance(value, float):
        key: Any = value.lower() if isinstance(value, str) else value
        if key in _TRUE:
            return True
        if key in _FALSE:
            return False
    raise ValueError('must be true or false (1, 0, "1", "0", "true" and "false" also work)')


def _not_bool(value: Any) -> Any:
    """JSON `true` is not the id 1, whatever Python thinks of bools."""
    if isinstance(value, bool):
        raise ValueError("must be a whole number, not true or false")
    return value


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _email(value: str) -> str:
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"must be a valid email address ({exc})") from exc
    return result.normalized


def _http_url(value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in {"http", "https"} or not parsed.netloc:
        raise ValueError("must be an http or https URL")
    return value


def _image_url(value: str) -> str:
    _http_url(value)
    path = urlparse(value).path.lower()
    if not path.endswith((".jpg", ".jpeg", ".png", ".svg")):
        raise ValueError("must be a URL whose path ends in .jpg, .jpeg, .png or .svg")
    return value


def _aware_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError("must be an ISO 8601 date and time with an offset") from exc
    else:
        raise ValueError("must be an ISO 8601 date and time with an offset")
    if parsed.tzinfo is None:
        raise ValueError("must include a UTC offset, such as Z or +02:00")
    try:
        return parsed.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("must be a date and time between the years 1 and 9999 in UTC") from exc


_BOOL_SCHEMA = {"oneOf": [{"type": "boolean"}, {"enum": [0, 1, "0", "1", "true", "false"]}]}

Bool = Annotated[bool, BeforeValidator(_parse_bool), WithJsonSchema(_BOOL_SCHEMA)]
Name = Annotated[
    str,
    Field(min_length=1, max_length=255),
    AfterValidator(_no_nul),
    AfterValidator(_not_blank),
]
Text = Annotated[str, Field(max_length=255), AfterValidator(_no_nul)]
LongText = Annotated[str, Field(min_length=1, max_length=10000), AfterValidator(_no_nul)]
Email = Annotated[
    str,
    Field(min_length=3, max_length=320, json_schema_extra={"format": "email"}),
    AfterValidator(_no_nul),
    AfterValidator(_email),
]
HttpUrl = Annotated[
    str, Field(max_length=2048), AfterValidator(_no_nul), AfterValidator(_http_url)
]
ImageUrl = Annotated[
    str, Field(max_length=2048), AfterValidator(_no_nul), AfterValidator(_image_url)
]
Password = Annotated[
    str, Field(min_length=10, max_length=1024), AfterValidator(_no_nul), AfterValidator(_not_blank)
]
Id = Annotated[int, BeforeValidator(_not_bool), Field(ge=1, le=2**31 - 1)]
AwareDatetime = Annotated[
    datetime,
    BeforeValidator(_aware_datetime),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]

_SLUG_DROP = re.compile(r"[^\w\s-]", re.UNICODE)
_SLUG_DASH = re.compile(r"[\s_-]+")


def slugify(text: str) -> str:
    """`"My Company!"` becomes `my-company`; accents fold away, other scripts are kept.

    Folding accents keeps look-alike slugs (`ácme` beside `acme`) from both existing.
    """
    decomposed = unicodedata.normalize("NFKD", text.lower())
    folded = "".join(c for c in decomposed if not unicodedata.combining(c))
    cleaned = _SLUG_DROP.sub("", unicodedata.normalize("NFKC", folded)).strip()
    return _SLUG_DASH.sub("-", cleaned).strip("-")

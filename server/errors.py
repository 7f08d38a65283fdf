"""The domain's error hierarchy, mapped once to HTTP status codes and JSON bodies."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error a client caused or may act on; `status` is its HTTP code."""

    status = 400

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"message": self.message, **self.extra}


class Unauthenticated(ApiError):
    """No token, or one that is invalid, expired or passed wrongly."""

    status = 401


class Forbidden(ApiError):
    """Authenticated, but the role or a business rule refuses."""

    status = 403


class NotFound(ApiError):
    """Unknown id, or an object of a company the caller cannot see."""

    status = 404


class MethodNotAllowed(ApiError):
    status = 405


class Conflict(ApiError):
    status = 409


class PayloadTooLarge(ApiError):
    status = 413


class UnsupportedMediaType(ApiError):
    status = 415


class ValidationFailed(ApiError):
    """One or more fields broke their rules; every bad field is listed at once."""

    status = 422

    def __init__(self, errors: dict[str, list[str]], message: str | None = None) -> None:
        first = next(iter(errors.values()))[0] if errors else "The given data was invalid."
        if message is None:
            more = sum(len(v) for v in errors.values()) - 1
            message = first if more <= 0 else f"{first} (and {more} more error{'s' * (more > 1)})"
        super().__init__(message, errors=errors)
        self.errors = errors


class RateLimited(ApiError):
    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many requests. Try again in {retry_after} seconds.")
        self.retry_after = retry_after


def invalid(field: str, message: str) -> ValidationFailed:
    """A 422 about one field."""
    return ValidationFailed({field: [message]})


def not_found(what: str) -> NotFound:
    return NotFound(f"No {what} with that id exists.")

"""Who is calling: bearer tokens in any of their three places, and password hashing."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import bindparam, select, update

from models import changes
from models.base import loaded, table_of, utcnow
from models.users import ApiToken, User
from server.access_cache import AccessCache
from server.api import Ctx
from server.errors import Unauthenticated

_hasher = PasswordHasher()  # argon2id with the library's current recommended costs
_UNKNOWN = _hasher.hash("a password that no account has")
TOUCH_EVERY = timedelta(minutes=5)  # last_used_at is coarse, so most requests write nothing

_tokens = table_of(ApiToken)
_users = table_of(User)
# Every authenticated request runs this: built once, as building it costs more than running it.
_TOKEN_AND_USER = (
    select(_tokens, _users)
    .join_from(_tokens, _users, _users.c.id == _tokens.c.user_id)
    .where(_tokens.c.token_hash == bindparam("b_hash"))
)
_TOUCH = update(_tokens).where(_tokens.c.id == bindparam("b_token_id"))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_unknown(password: str) -> bool:
    """Spend the time a real check takes, so that sign-in does not tell which emails exist."""
    verify_password(_UNKNOWN, password)
    return False


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def unusable_password_hash() -> str:
    """A stored password that no input ever matches: the mark of a locked queue.

    It is not an argon2 hash, so verification fails at once; hashing a random secret nobody
    will ever type would cost the same result a slow hash per company user.
    """
    return "!locked:" + secrets.token_hex(16)


def new_secret() -> str:
    """A random URL-safe secret for tokens and single-use links."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """Tokens are stored as their SHA-256: random secrets need no slow hash."""
    return hashlib.sha256(secret.encode(errors="surrogatepass")).hexdigest()


def _token_from(ctx: Ctx) -> str | None:
    header = ctx.request.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthenticated("The Authorization header must be 'Bearer <token>'.")
        return value.strip()
    from_query = ctx.query.get("api_token")
    if from_query:
        return from_query
    from_body = ctx.raw_body.get("api_token")
    if from_body is not None:
        if not isinstance(from_body, str) or not from_body:
            raise Unauthenticated("The api_token field must be a token string.")
        return from_body
    return None


async def authenticate(ctx: Ctx, *, required: bool) -> None:
    """Resolve the caller's user; a missing token is fine only where `required` is false."""
    secret = _token_from(ctx)
    if secret is None:
        if required:
            raise Unauthenticated("A token is required: send 'Authorization: Bearer <token>'.")
        return
    resolved = await resolve_token(ctx.services.db, secret, ctx.services.access)
    if resolved is None:
        if required:
            raise Unauthenticated("The token is invalid, expired or revoked.")
        return
    ctx.token, ctx.user = resolved
    last = ctx.token.last_used_at
    now = utcnow()
    if ctx.token.id is not None and (last is None or now - last > TOUCH_EVERY):
        await touch(ctx.services.db, ctx.token.id, now)
        ctx.token.last_used_at = now  # the cached token too, or every request would touch


async def resolve_token(
    db: object, secret: str, cache: AccessCache | None = None
) -> tuple[ApiToken, User] | None:
    """The token and its user, if the token exists and has not expired."""
    from models.db import Database

    assert isinstance(db, Database)
    hashed = digest(secret)
    found = None if cache is None else cache.tokens.get(hashed)
    if found is None:
        version = changes.version()
        async with db.read() as conn:
            row = (await conn.execute(_TOKEN_AND_USER, {"b_hash": hashed})).first()
        if row is None:
            return None
        values = row._mapping
        found = (
            loaded(ApiToken, {column.key: values[column] for column in _tokens.c}),
            loaded(User, {column.key: values[column] for column in _users.c}),
        )
        if cache is not None:
            cache.tokens.put(hashed, version, found)
    expires_at = found[0].expires_at
    if expires_at is not None and expires_at <= utcnow():
        return None
    return found


async def issue_token(
    db: object,
    user_id: int,
    *,
    name: str,
    kind: str,
    ttl: timedelta | None = None,
    expires_at: datetime | None = None,
) -> tuple[str, ApiToken]:
    """Create a token for a user; the secret is returned once and never stored.

    It expires after `ttl`, or at `expires_at`, or never when neither is given.
    """
    from models.db import Database

    assert isinstance(db, Database)
    secret = new_secret()
    if ttl is not None:
        expires_at = utcnow() + ttl
    token = ApiToken(
        user_id=user_id,
        name=name,
        kind=kind,
        token_hash=digest(secret),
        expires_at=expires_at,
    )
    async with db.write() as session:
        session.add(token)
    return secret, token


async def touch(db: object, token_id: int, now: datetime) -> None:
    from models.db import Database

    assert isinstance(db, Database)
    async with db.single() as conn:
        await conn.execute(_TOUCH, {"b_token_id": token_id, "last_used_at": now})

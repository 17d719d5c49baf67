"""Console users, their sessions and login attempts, the API's integration tokens and the answers
kept for their Idempotency-Keys.

Passwords are argon2id hashes (made by the caller: the store never sees a password). A session row is
keyed by the sha256 of the cookie value; an API token row by the sha256 of the token. Nothing here
returns a hash to a view.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from dunline.store.attempts import audit
from dunline.store.db import StoreError, UniqueViolation, translate


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    password_hash: str
    disabled: bool
    failed_logins: int
    locked_until: datetime | None


@dataclass(frozen=True)
class Session:
    user_id: int
    user_name: str
    role: str
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class Token:
    id: int
    name: str
    scopes: tuple[str, ...]


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


def _user(r: asyncpg.Record) -> User:
    return User(
        r["id"],
        r["name"],
        r["role"],
        r["password_hash"],
        r["disabled"],
        r["failed_logins"],
        r["locked_until"],
    )


async def add_user(pool: asyncpg.Pool, name: str, role: str, password_hash: str, *, actor: str) -> int:
    """Create a user; UniqueViolation when the name is taken. Audited."""
    async with pool.acquire() as conn, conn.transaction():
        try:
            uid: int = await conn.fetchval(
                "INSERT INTO users (name, role, password_hash) VALUES ($1, $2, $3) RETURNING id",
                name,
                role,
                password_hash,
            )
        except asyncpg.UniqueViolationError as exc:
            raise UniqueViolation(f"user {name!r} already exists", field="name") from exc
        except asyncpg.PostgresError as exc:
            raise translate(exc, field="name") from exc
        await audit(conn, actor, "user.add", f"user:{name}", {"role": role})
    return uid


async def set_password(pool: asyncpg.Pool, name: str, password_hash: str, *, actor: str) -> bool:
    async with pool.acquire() as conn, conn.transaction():
        status = await conn.execute(
            "UPDATE users SET password_hash = $2, failed_logins = 0, locked_until = NULL, updated_at = now()"
            " WHERE name = $1",
            name,
            password_hash,
        )
        if status.endswith(" 0"):
            return False
        await conn.execute(
            "DELETE FROM web_sessions WHERE user_id = (SELECT id FROM users WHERE name = $1)", name
        )
        await audit(conn, actor, "user.password", f"user:{name}", {})
    return True


async def find_user(pool: asyncpg.Pool, name: str) -> User | None:
    r = await pool.fetchrow("SELECT * FROM users WHERE name = $1", name)
    return None if r is None else _user(r)


async def list_users(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT name, role, disabled, failed_logins, locked_until, created_at FROM users ORDER BY name"
    )
    return [dict(r.items()) for r in rows]


async def recent_attempts(pool: asyncpg.Pool, client: str, since: datetime) -> int:
    n: int = await pool.fetchval(
        "SELECT count(*) FROM login_attempts WHERE client = $1 AND at >= $2", client, since
    )
    return n


async def record_failure(
    pool: asyncpg.Pool,
    client: str,
    name: str,
    user: User | None,
    *,
    now: datetime,
    max_failures: int,
    lockout: timedelta,
) -> bool:
    """Note a failed login; lock the user out after `max_failures` in a row. True when this locked it."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO login_attempts (client, user_name, ok, at) VALUES ($1, $2, false, $3)",
            client,
            name,
            now,
        )
        if user is None:
            return False
        failures: int = await conn.fetchval(
            "UPDATE users SET failed_logins = failed_logins + 1 WHERE id = $1 RETURNING failed_logins",
            user.id,
        )
        if failures < max_failures:
            return False
        await conn.execute(
            "UPDATE users SET locked_until = $2, failed_logins = 0 WHERE id = $1", user.id, now + lockout
        )
        await audit(
            conn, "console", "user.locked", f"user:{user.name}", {"failures": failures, "client": client}
        )
        return True


async def open_session(
    pool: asyncpg.Pool,
    user: User,
    session_id: str,
    csrf: str,
    *,
    client: str,
    now: datetime,
    expires: datetime,
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO login_attempts (client, user_name, ok, at) VALUES ($1, $2, true, $3)",
            client,
            user.name,
            now,
        )
        await conn.execute("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1", user.id)
        await conn.execute(
            "INSERT INTO web_sessions"
            " (id_hash, user_id, csrf_token, created_at, last_seen_at, expires_at, client)"
            " VALUES ($1, $2, $3, $4, $4, $5, $6)",
            digest(session_id),
            user.id,
            csrf,
            now,
            expires,
            client,
        )
        await audit(conn, user.name, "login", f"user:{user.name}", {"client": client})


async def load_session(
    pool: asyncpg.Pool, session_id: str, *, now: datetime, idle: timedelta
) -> Session | None:
    """The live session of this cookie value (touched now), or None when unknown, idle too long,
    expired or its user disabled."""
    r = await pool.fetchrow(
        "UPDATE web_sessions s SET last_seen_at = $2 FROM users u"
        " WHERE s.id_hash = $1 AND u.id = s.user_id AND NOT u.disabled"
        " AND s.expires_at > $2 AND s.last_seen_at > $3"
        " RETURNING s.user_id, u.name, u.role, s.csrf_token, s.expires_at",
        digest(session_id),
        now,
        now - idle,
    )
    return (
        None if r is None else Session(r["user_id"], r["name"], r["role"], r["csrf_token"], r["expires_at"])
    )


async def close_session(pool: asyncpg.Pool, session_id: str) -> None:
    await pool.execute("DELETE FROM web_sessions WHERE id_hash = $1", digest(session_id))


async def add_token(pool: asyncpg.Pool, name: str, token: str, scopes: Sequence[str], *, actor: str) -> int:
    async with pool.acquire() as conn, conn.transaction():
        try:
            tid: int = await conn.fetchval(
                "INSERT INTO api_tokens (name, prefix, token_hash, scopes)"
                " VALUES ($1, $2, $3, $4) RETURNING id",
                name,
                token[:12],
                digest(token),
                list(scopes),
            )
        except asyncpg.UniqueViolationError as exc:
            raise UniqueViolation(f"a token named {name!r} already exists", field="name") from exc
        except asyncpg.PostgresError as exc:
            raise translate(exc, field="name") from exc
        await audit(conn, actor, "token.create", f"token:{name}", {"scopes": list(scopes)})
    return tid


async def revoke_token(pool: asyncpg.Pool, name: str, *, actor: str) -> bool:
    async with pool.acquire() as conn, conn.transaction():
        status = await conn.execute(
            "UPDATE api_tokens SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL", name
        )
        if status.endswith(" 0"):
            return False
        await audit(conn, actor, "token.revoke", f"token:{name}", {})
    return True


async def find_token(pool: asyncpg.Pool, token: str, *, now: datetime) -> Token | None:
    r = await pool.fetchrow(
        "UPDATE api_tokens SET last_used_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL"
        " RETURNING id, name, scopes",
        digest(token),
        now,
    )
    return None if r is None else Token(r["id"], r["name"], tuple(r["scopes"]))


async def stored_answer(pool: asyncpg.Pool, token_id: int, key: str) -> dict[str, Any] | None:
    """The answer kept for an Idempotency-Key of this token: request_hash, status, body; or None."""
    row = await pool.fetchrow(
        "SELECT request_hash, status, body FROM api_idempotency WHERE token_id = $1 AND key = $2",
        token_id,
        key,
    )
    return None if row is None else {**dict(row.items()), "request_hash": bytes(row["request_hash"])}


async def store_answer(
    pool: asyncpg.Pool, token_id: int, key: str, request_hash: bytes, status: int, body: Any
) -> None:
    """Keep the answer to a request with an Idempotency-Key (the first one kept wins)."""
    await pool.execute(
        "INSERT INTO api_idempotency (token_id, key, request_hash, status, body)"
        " VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT (token_id, key) DO NOTHING",
        token_id,
        key,
        request_hash,
        status,
        body,
    )


__all__ = ["Session", "StoreError", "Token", "User"]

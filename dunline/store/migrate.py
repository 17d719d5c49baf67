"""Numbered SQL migrations: `dunline/store/migrations/NNNN_name.sql`, applied in order.

Each pending file runs in its own transaction together with its row in `schema_migrations`. Every
transaction first takes `pg_advisory_xact_lock(MIGRATION_LOCK)`, so concurrent processes serialize and a
file applied meanwhile by another process is skipped. Applied files must not change: a checksum mismatch
(sha256 of the file bytes) raises MigrationError naming the file, before anything is applied. A version
recorded in the database but unknown to this code also raises (the database is newer than the code).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

import asyncpg

from dunline.store.db import MigrationError, translate

MIGRATION_LOCK = 0x64756E6C  # "dunl"
_NAME_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str  # file name, e.g. 0001_init.sql
    sql: str
    checksum: str


def load_migrations(directory: Traversable | None = None) -> list[Migration]:
    """Migrations found in `directory` (default: the package's migrations folder), sorted by version."""
    folder = directory if directory is not None else files("dunline.store").joinpath("migrations")
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _NAME_RE.match(entry.name)
        if match is None:
            raise MigrationError(f"migration file {entry.name!r} is not named NNNN_name.sql")
        version = int(match.group(1))
        if version in found:
            other = found[version].name
            raise MigrationError(f"migration files {other} and {entry.name} share version {version}")
        data = entry.read_bytes()
        checksum = hashlib.sha256(data).hexdigest()
        found[version] = Migration(version, entry.name, data.decode("utf-8"), checksum)
    return [found[v] for v in sorted(found)]


async def _lock_and_read(conn: asyncpg.Connection) -> dict[int, tuple[str, str]]:
    await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
    await conn.execute(_CREATE_TABLE)
    rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations")
    return {r["version"]: (r["name"], r["checksum"]) for r in rows}


def _verify(applied: dict[int, tuple[str, str]], known: Iterable[Migration]) -> None:
    by_version = {m.version: m for m in known}
    for version, (name, checksum) in sorted(applied.items()):
        m = by_version.get(version)
        if m is None:
            raise MigrationError(f"database has migration {version:04d} ({name}) unknown to this code")
        if m.checksum != checksum:
            raise MigrationError(
                f"migration {m.name} was changed after it was applied (checksum {checksum[:12]} in the "
                f"database, {m.checksum[:12]} on disk); add a new migration instead of editing it"
            )


async def _migrate(conn: asyncpg.Connection, migrations: list[Migration]) -> list[int]:
    async with conn.transaction():
        applied = await _lock_and_read(conn)
        _verify(applied, migrations)
    done: list[int] = []
    for m in migrations:
        if m.version in applied:
            continue
        async with conn.transaction():
            now_applied = await _lock_and_read(conn)
            if m.version in now_applied:  # another process got there first
                continue
            try:
                await conn.execute(m.sql)
            except asyncpg.PostgresError as exc:
                raise MigrationError(f"migration {m.name} failed: {translate(exc)}") from exc
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                m.version,
                m.name,
                m.checksum,
            )
        done.append(m.version)
    return done


async def migrate(
    pool_or_conn: asyncpg.Pool | asyncpg.Connection, *, migrations: list[Migration] | None = None
) -> list[int]:
    """Apply pending migrations; returns the versions applied now (empty when up to date)."""
    todo = migrations if migrations is not None else load_migrations()
    if isinstance(pool_or_conn, asyncpg.Pool):
        async with pool_or_conn.acquire() as conn:
            return await _migrate(conn, todo)
    return await _migrate(pool_or_conn, todo)

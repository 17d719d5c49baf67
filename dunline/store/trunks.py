"""Trunks kept in PostgreSQL for the telecom admin's page (`web/trunk_admin.py`).

The settings' `trunks:` seed the table the first time `seed` runs on an empty table; from then on the
table is the source. `save` writes one trunk (all or nothing) with an audit row naming the fields that
changed (never the password's value); at least one trunk always stays enabled, since the dialer dials
over the first enabled one.

Errors: `TrunkError` (the message says which trunk and why).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from dunline.config.schema import TrunkSettings
from dunline.store.attempts import audit


class TrunkError(ValueError):
    """A trunk change the table refuses: unknown trunk, name taken, or no trunk left enabled."""


@dataclass(frozen=True)
class Stored:
    trunk: TrunkSettings
    enabled: bool
    updated_at: datetime
    updated_by: str


def _config(trunk: TrunkSettings) -> dict[str, Any]:
    return trunk.model_dump(mode="json", exclude={"password"})


def _password(trunk: TrunkSettings) -> str:
    return trunk.password.get_secret_value() if trunk.password else ""


async def seed(pool: asyncpg.Pool, trunks: tuple[TrunkSettings, ...], *, actor: str = "settings") -> bool:
    """Fill an empty table from the settings; True when it did (the lock only while it is empty)."""
    if await pool.fetchval("SELECT EXISTS (SELECT 1 FROM trunks)"):
        return False
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("LOCK TABLE trunks IN EXCLUSIVE MODE")
        if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM trunks)"):
            return False
        for pos, t in enumerate(trunks):
            await conn.execute(
                "INSERT INTO trunks (name, position, config, password, updated_by)"
                " VALUES ($1, $2, $3::jsonb, $4, $5)",
                t.name,
                pos,
                _config(t),
                _password(t),
                actor,
            )
        await audit(conn, actor, "trunk.seed", "trunks", {"names": [t.name for t in trunks]})
        return True


def _row(r: asyncpg.Record) -> Stored:
    trunk = TrunkSettings.model_validate({**r["config"], "password": r["password"] or None})
    return Stored(trunk, r["enabled"], r["updated_at"], r["updated_by"])


async def load(pool: asyncpg.Pool | asyncpg.Connection) -> list[Stored]:
    rows = await pool.fetch("SELECT * FROM trunks ORDER BY position, name")
    return [_row(r) for r in rows]


def enabled(stored: list[Stored]) -> tuple[TrunkSettings, ...]:
    return tuple(s.trunk for s in stored if s.enabled)


async def save(
    pool: asyncpg.Pool,
    trunk: TrunkSettings,
    *,
    enabled: bool,
    actor: str,
    new: bool,
) -> list[str]:
    """Add (`new`) or replace one trunk; a trunk without a password keeps its stored one. Returns the
    names of the fields that changed (`password` when it did, never its value)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("LOCK TABLE trunks IN SHARE ROW EXCLUSIVE MODE")
        old = await conn.fetchrow("SELECT * FROM trunks WHERE name = $1", trunk.name)
        if new and old is not None:
            raise TrunkError(f"trunk {trunk.name!r} exists already: edit it instead")
        if not new and old is None:
            raise TrunkError(f"no trunk {trunk.name!r}")
        if old is None and trunk.password is None:
            raise TrunkError(f"trunk {trunk.name!r}: a new trunk needs a password")
        others = await conn.fetchval("SELECT count(*) FROM trunks WHERE enabled AND name <> $1", trunk.name)
        if not enabled and others == 0:
            raise TrunkError(f"trunk {trunk.name!r} is the last one enabled: the dialer needs one")
        password = _password(trunk) if trunk.password is not None else old["password"]
        changed = _changes(old, trunk, enabled, password)
        if old is None:
            position = await conn.fetchval("SELECT coalesce(max(position) + 1, 0) FROM trunks")
            await conn.execute(
                "INSERT INTO trunks (name, position, config, password, enabled, updated_by)"
                " VALUES ($1, $2, $3::jsonb, $4, $5, $6)",
                trunk.name,
                position,
                _config(trunk),
                password,
                enabled,
                actor,
            )
        elif changed:
            await conn.execute(
                "UPDATE trunks SET config = $2::jsonb, password = $3, enabled = $4, updated_at = now(),"
                " updated_by = $5 WHERE name = $1",
                trunk.name,
                _config(trunk),
                password,
                enabled,
                actor,
            )
        if changed:
            action = "trunk.add" if old is None else "trunk.edit"
            await audit(conn, actor, action, f"trunk:{trunk.name}", {"changed": changed})
        return changed


def _changes(old: asyncpg.Record | None, trunk: TrunkSettings, enabled: bool, password: str) -> list[str]:
    now: dict[str, Any] = {**_config(trunk), "enabled": enabled}
    if old is None:
        return sorted(now)
    before: dict[str, Any] = {**old["config"], "enabled": old["enabled"]}
    changed = sorted(k for k in now if before.get(k) != now[k])
    if password != old["password"]:
        changed.append("password")
    return changed

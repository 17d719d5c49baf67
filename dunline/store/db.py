"""asyncpg pool for Dunline and the store's error hierarchy.

Errors raised by the store (callers catch these, never asyncpg's own classes):

    StoreError                    base; `.row`/`.field` name the input row and column when known
    ├── StoreUnavailable          cannot connect, connection lost, timeout, server starting/stopping
    ├── IntegrityViolation        a constraint refused the data (`.sqlstate`, `.constraint`)
    │   ├── UniqueViolation       23505 (also: re-import of an existing external_id/account_ref)
    │   ├── CheckViolation        23514
    │   ├── ForeignKeyViolation   23503
    │   └── NotNullViolation      23502
    └── MigrationError            a migration file is malformed, changed after it was applied, or failed

`translate(exc)` maps asyncpg exceptions by class (asyncpg derives them from SQLSTATE) using `_SQLSTATE_MAP`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg


class StoreError(Exception):
    def __init__(self, message: str, *, row: int | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.row = row
        self.field = field


class StoreUnavailable(StoreError):
    pass


class IntegrityViolation(StoreError):
    sqlstate = "23000"

    def __init__(
        self, message: str, *, row: int | None = None, field: str | None = None, constraint: str | None = None
    ) -> None:
        super().__init__(message, row=row, field=field)
        self.constraint = constraint


class UniqueViolation(IntegrityViolation):
    sqlstate = "23505"


class CheckViolation(IntegrityViolation):
    sqlstate = "23514"


class ForeignKeyViolation(IntegrityViolation):
    sqlstate = "23503"


class NotNullViolation(IntegrityViolation):
    sqlstate = "23502"


class MigrationError(StoreError):
    pass


_SQLSTATE_MAP: dict[type[asyncpg.PostgresError], type[IntegrityViolation]] = {
    asyncpg.UniqueViolationError: UniqueViolation,  # 23505
    asyncpg.CheckViolationError: CheckViolation,  # 23514
    asyncpg.ForeignKeyViolationError: ForeignKeyViolation,  # 23503
    asyncpg.NotNullViolationError: NotNullViolation,  # 23502
    asyncpg.IntegrityConstraintViolationError: IntegrityViolation,  # 23000
}

_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.CannotConnectNowError,  # 57P03
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    asyncpg.InvalidCatalogNameError,  # 3D000: database does not exist
    asyncpg.InvalidAuthorizationSpecificationError,  # 28000
    asyncpg.InvalidPasswordError,  # 28P01
    asyncpg.AdminShutdownError,  # 57P01
    asyncpg.CrashShutdownError,  # 57P02
)


def translate(exc: BaseException, *, row: int | None = None, field: str | None = None) -> StoreError:
    """The StoreError for an asyncpg/OS exception (the caller raises it `from exc`)."""
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, asyncpg.PostgresError):
        for pg_cls, ours in _SQLSTATE_MAP.items():
            if isinstance(exc, pg_cls):
                constraint = getattr(exc, "constraint_name", None)
                detail = getattr(exc, "detail", None)
                message = f"{exc}" + (f" ({detail})" if detail else "")
                return ours(message, row=row, field=field, constraint=constraint)
    if isinstance(exc, _UNAVAILABLE):
        return StoreUnavailable(f"database unavailable: {exc!r}", row=row, field=field)
    return StoreError(f"database error: {exc}", row=row, field=field)


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typename in ("jsonb", "json"):
        await conn.set_type_codec(typename, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def connect_pool(
    dsn: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    timeout: float = 10.0,  # noqa: ASYNC109 - part of the store's API, applied with asyncio.timeout
    **kwargs: Any,
) -> asyncpg.Pool:
    """Open a pool; every connection gets a json/jsonb codec (Python objects in, Python objects out).

    Raises StoreUnavailable when the server cannot be reached within `timeout` seconds.
    """
    try:
        async with asyncio.timeout(timeout):
            return await asyncpg.create_pool(
                dsn,
                min_size=min_size,
                max_size=max_size,
                timeout=timeout,
                init=_init_connection,
                **kwargs,
            )
    except (asyncpg.PostgresError, *_UNAVAILABLE) as exc:
        raise StoreUnavailable(f"cannot connect to the database: {exc!r}") from exc

"""Store against a real embedded PostgreSQL: migrations, portfolio import, account views."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from importlib.resources import files
from pathlib import Path

import asyncpg
import pytest

from dunline.portfolio.csv_schema import ALL_COLUMNS, AccountRow, parse_portfolio
from dunline.portfolio.report import PortfolioInvalid, format_errors, import_file
from dunline.store.accounts import import_portfolio, list_dialable, load_account
from dunline.store.db import (
    CheckViolation,
    MigrationError,
    StoreUnavailable,
    UniqueViolation,
    connect_pool,
)
from dunline.store.embedded import EmbeddedPostgres, start_embedded, stop_embedded
from dunline.store.migrate import Migration, load_migrations, migrate

SAMPLE = Path(str(files("dunline.portfolio").joinpath("sample_portfolio.csv")))
BAD = Path(__file__).parents[1] / "fixtures" / "portfolio_bad.csv"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    data_dir = tmp_path_factory.mktemp("pg") / "data"
    pg = start_embedded(data_dir)
    print(f"\nembedded PostgreSQL start: {pg.start_seconds:.3f}s (reused={pg.reused})")
    yield pg
    pg.stop()


@pytest.fixture
async def dsn(server: EmbeddedPostgres) -> AsyncIterator[str]:
    name = f"t_{uuid.uuid4().hex}"
    admin = await asyncpg.connect(server.dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield server.dsn_for(name)
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def pool(dsn: str) -> AsyncIterator[asyncpg.Pool]:
    p = await connect_pool(dsn, max_size=4)
    await migrate(p)
    try:
        yield p
    finally:
        await p.close()


@pytest.fixture
def sample_rows() -> list[AccountRow]:
    with SAMPLE.open(newline="") as fh:
        return parse_portfolio(fh).rows


async def counts(pool: asyncpg.Pool) -> tuple[int, int, int, int]:
    row = await pool.fetchrow(
        "SELECT (SELECT count(*) FROM debtors) d, (SELECT count(*) FROM accounts) a,"
        " (SELECT count(*) FROM phones) p, (SELECT count(*) FROM audit_log) l"
    )
    assert row is not None
    return row["d"], row["a"], row["p"], row["l"]


# --- embedded server ------------------------------------------------------------------------------


def test_second_start_reuses_running_server(server: EmbeddedPostgres) -> None:
    again = start_embedded(server.data_dir)
    assert again.reused and again.pid == server.pid and again.dsn == server.dsn


def test_stop_then_start_again(tmp_path: Path) -> None:
    pg = start_embedded(tmp_path / "pg")
    assert not pg.reused
    assert stop_embedded(pg.data_dir) is True
    assert stop_embedded(pg.data_dir) is False  # nothing left running
    pg2 = start_embedded(pg.data_dir)  # existing data dir, no initdb
    try:
        assert not pg2.reused and pg2.pid != pg.pid
    finally:
        assert pg2.stop()


async def test_connect_pool_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable):
        await connect_pool(f"postgresql://postgres@/postgres?host={tmp_path}", timeout=2)


async def test_jsonb_codec(pool: asyncpg.Pool) -> None:
    assert await pool.fetchval("SELECT $1::jsonb", {"a": [1, "x"]}) == {"a": [1, "x"]}


# --- migrations -----------------------------------------------------------------------------------


async def test_migrate_applies_once(dsn: str) -> None:
    p = await connect_pool(dsn)
    try:
        shipped = [(m.version, m.name) for m in load_migrations()]
        assert shipped[:3] == [(1, "0001_init.sql"), (2, "0002_compliance.sql"), (3, "0003_payments.sql")]
        assert await migrate(p) == [v for v, _ in shipped]
        assert await migrate(p) == []
        rows = await p.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
        assert [(r["version"], r["name"]) for r in rows] == shipped
        for table in ("debtors", "verdicts", "payments"):
            assert await p.fetchval(f"SELECT to_regclass('public.{table}') IS NOT NULL"), table
    finally:
        await p.close()


async def test_migrate_detects_changed_checksum(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
        m = load_migrations()[0]
        edited = dataclasses.replace(m, sql=m.sql + "\n-- edited", checksum="0" * 64)
        with pytest.raises(MigrationError, match=r"0001_init\.sql"):
            await migrate(conn, migrations=[edited])
    finally:
        await conn.close()


async def test_failed_migration_rolls_back_and_names_file(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        shipped = load_migrations()
        last = shipped[-1].version
        bad = Migration(
            last + 1, f"{last + 1:04d}_bad.sql", "CREATE TABLE x (id int); SELECT nope;", "ab" * 32
        )
        with pytest.raises(MigrationError, match=rf"{last + 1:04d}_bad\.sql"):
            await migrate(conn, migrations=[*shipped, bad])
        assert await conn.fetchval("SELECT max(version) FROM schema_migrations") == last
        assert await conn.fetchval("SELECT to_regclass('public.x')") is None
    finally:
        await conn.close()


# --- import ----------------------------------------------------------------------------------------


async def test_import_sample_portfolio(pool: asyncpg.Pool) -> None:
    summary = await import_file(pool, SAMPLE, default_region="US", progress=False)
    assert (summary.debtors_created, summary.accounts_created, summary.phones_written) == (9, 9, 10)
    assert await counts(pool) == (9, 9, 10, 1)
    audit = await pool.fetchrow("SELECT actor, action, subject, detail FROM audit_log")
    assert audit is not None
    assert (audit["actor"], audit["action"], audit["subject"]) == ("cli", "import", "sample_portfolio.csv")
    assert audit["detail"]["accounts_created"] == 9 and audit["detail"]["rows"] == 9
    view = await load_account(pool, "ACC-1002")
    assert view is not None
    assert (view.full_name, view.phone_e164, view.balance) == (
        "James Whitfield",
        "+14155550102",
        Decimal("4820.35"),
    )
    assert await load_account(pool, "nope") is None


async def test_invalid_file_imports_nothing(pool: asyncpg.Pool) -> None:
    with pytest.raises(PortfolioInvalid) as info:
        await import_file(pool, BAD, default_region="US", progress=False)
    report = format_errors(info.value.errors)
    assert "row 2, column phone: '***5012' is not a valid number for region US" in report
    assert "row 8, column external_id: 'B-1' is a duplicate of row 1" in report
    assert await counts(pool) == (0, 0, 0, 0)


async def test_reimport_refused_without_upsert(pool: asyncpg.Pool) -> None:
    await import_file(pool, SAMPLE, default_region="US", progress=False)
    with pytest.raises(UniqueViolation, match=r"row 1, column external_id: 'D-1001' already exists") as info:
        await import_file(pool, SAMPLE, default_region="US", progress=False)
    assert info.value.row == 1
    assert await counts(pool) == (9, 9, 10, 1)


async def test_duplicate_in_db_at_row_5_rolls_back_all(
    pool: asyncpg.Pool, sample_rows: list[AccountRow]
) -> None:
    rows = list(sample_rows)
    await import_portfolio(pool, [rows[4]], source="first.csv")  # D-1005 / ACC-1005 now exists
    before = await counts(pool)
    with pytest.raises(UniqueViolation) as info:
        await import_portfolio(pool, rows)
    assert (info.value.row, info.value.field) == (5, "external_id")
    assert await counts(pool) == before


async def test_db_error_mid_transaction_rolls_back_all(
    pool: asyncpg.Pool, sample_rows: list[AccountRow]
) -> None:
    rows = list(sample_rows)
    rows[4] = dataclasses.replace(rows[4], balance=Decimal("-1.00"))  # bypasses CSV validation
    with pytest.raises(CheckViolation) as info:
        await import_portfolio(pool, rows)
    assert (info.value.row, info.value.field) == (5, "balance")
    assert "row 5, column balance" in str(info.value)
    assert await counts(pool) == (0, 0, 0, 0)


async def test_upsert_updates_balance_due_date_and_phones(
    pool: asyncpg.Pool, sample_rows: list[AccountRow]
) -> None:
    rows = list(sample_rows)
    await import_portfolio(pool, rows)
    changed = dataclasses.replace(
        rows[1], balance=Decimal("100.00"), due_date=date(2026, 11, 1), phones=rows[1].phones[:1]
    )
    summary = await import_portfolio(pool, [changed], upsert=True)
    assert (summary.debtors_created, summary.accounts_created, summary.accounts_updated) == (0, 0, 1)
    assert summary.phones_removed == 1
    view = await load_account(pool, "ACC-1002")
    assert view is not None and (view.balance, view.due_date) == (Decimal("100.00"), date(2026, 11, 1))
    assert await pool.fetchval("SELECT count(*) FROM phones WHERE debtor_id = $1", view.debtor_id) == 1


async def test_list_dialable_days_overdue(pool: asyncpg.Pool) -> None:
    await import_file(pool, SAMPLE, default_region="US", progress=False)
    as_of = datetime(2026, 11, 28, 5, 0, tzinfo=UTC)  # 27 Nov in Los Angeles, 28 Nov in Shanghai
    views = {v.account_ref: v for v in await list_dialable(pool, 100, as_of=as_of)}
    assert len(views) == 9
    assert views["ACC-1001"].days_overdue == (date(2026, 11, 27) - date(2026, 10, 29)).days == 29
    assert views["ACC-1003"].days_overdue == 9
    assert views["ACC-2001"].days_overdue == (date(2026, 11, 28) - date(2026, 10, 19)).days
    assert views["ACC-1005"].phone_e164 == "+14155550105" and views["ACC-1005"].phone_id is not None
    ordered = await list_dialable(pool, 3, as_of=as_of)
    assert [v.account_ref for v in ordered] == ["ACC-1005", "ACC-1002", "ACC-2002"]
    early = await list_dialable(pool, 100, as_of=datetime(2026, 11, 1, 12, tzinfo=UTC))
    assert "ACC-1003" not in {v.account_ref for v in early}  # not yet due


def _large_csv(path: Path, n: int) -> None:
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=ALL_COLUMNS, restval="")
        w.writeheader()
        base = date(2026, 11, 28)
        for i in range(n):
            w.writerow(
                {
                    "external_id": f"L-{i}",
                    "account_ref": f"LA-{i}",
                    "full_name": f"Debtor {i}",
                    "phone": f"+1212{2000000 + i:07d}",
                    "principal": f"{100 + i % 900}.50",
                    "balance": f"{50 + i % 700}.25",
                    "due_date": (base - timedelta(days=1 + i % 120)).isoformat(),
                    "timezone": "America/New_York",
                }
            )


async def test_import_5000_rows_one_transaction(pool: asyncpg.Pool, tmp_path: Path) -> None:
    path = tmp_path / "large.csv"
    _large_csv(path, 5000)
    t0 = time.perf_counter()
    summary = await import_file(pool, path, default_region="US", progress=True)
    total = time.perf_counter() - t0
    print(f"\n5000-row import: {total:.2f}s total, {summary.seconds:.2f}s in the database")
    assert summary.accounts_created == 5000
    assert await counts(pool) == (5000, 5000, 5000, 1)
    xmins = await pool.fetchval("SELECT count(DISTINCT xmin::text) FROM accounts")
    assert xmins == 1  # all rows written by one transaction


async def test_import_rows_directly(pool: asyncpg.Pool, sample_rows: list[AccountRow]) -> None:
    rows = [dataclasses.replace(r, row=0) for r in sample_rows]  # not from a file: numbered by position
    summary = await import_portfolio(pool, rows, actor="tester", source=None)
    assert summary.rows == 9
    assert await pool.fetchval("SELECT actor FROM audit_log") == "tester"
    with pytest.raises(UniqueViolation) as info:
        await import_portfolio(pool, rows[2:])
    assert info.value.row == 1  # position in the sequence when rows carry no file row number


async def test_concurrent_migrations_serialize(dsn: str) -> None:
    conns = [await asyncpg.connect(dsn) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate(c) for c in conns))
        # Each file is its own transaction under the advisory lock, so the processes may share the
        # work (one applies 0001-0003, another 0004-0006 while the first waits): what must hold is
        # that every migration is applied exactly once, by one of them, and recorded once.
        applied = [v for r in results for v in r]
        every = [m.version for m in load_migrations()]
        assert sorted(applied) == every
        recorded = await conns[0].fetch("SELECT version FROM schema_migrations ORDER BY version")
        assert [r["version"] for r in recorded] == every
    finally:
        for c in conns:
            await c.close()

"""Payments import and the strategy report against the real PostgreSQL, through the command line."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from dunline.controller.app import open_database
from dunline.portfolio.report import import_file

try:
    from helpers_attempts import promised_call
except ImportError:  # tests/ collected as a package
    from tests.integration.helpers_attempts import promised_call

if TYPE_CHECKING:
    from conftest import Stack

pytestmark = pytest.mark.integration

ACCOUNTS = """external_id,account_ref,full_name,phone,phone_type,phone_consent,balance,principal,due_date
P-1,ACC-P1,Pia Payer,+14155550141,mobile,yes,300.00,300.00,2026-10-01
"""


async def test_payments_import_all_or_nothing_and_the_report_adds_up(stack: Stack, tmp_path: Path) -> None:
    csv = tmp_path / "accounts.csv"
    csv.write_text(ACCOUNTS, "utf-8")
    pool, _ = await open_database(stack.settings)
    try:
        await import_file(pool, csv, upsert=True)
        at = datetime.now(UTC) - timedelta(days=10)
        due = (at + timedelta(days=3)).date().isoformat()
        await promised_call(pool, "ACC-P1", at, due, "100.00")
    finally:
        await pool.close()

    bad = tmp_path / "bad.csv"
    bad.write_text("account_ref,paid_at,amount,reference\nACC-P1,2026-12-01,50,X\nACC-NOPE,2026-12-01,5,Y\n")
    proc = stack.cli("import", "payments", str(bad), "--json")
    assert proc.returncode == 2
    assert json.loads(proc.stdout)["errors"] == [
        {"row": 2, "column": "account_ref", "value_masked": "ACC-NOPE", "reason": "no such account"}
    ]
    paid_on = (at + timedelta(days=2)).isoformat()
    good = tmp_path / "good.csv"
    good.write_text(
        f"account_ref,paid_at,amount,reference\nACC-P1,{paid_on},100.00,PAY-{uuid.uuid4().hex[:6]}\n"
    )
    first = stack.cli("import", "payments", str(good), "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {"ok": True, "rows": 1, "inserted": 1, "already_stored": 0}
    again = stack.cli("import", "payments", str(good), "--json")
    assert json.loads(again.stdout)["inserted"] == 0  # the same file twice adds nothing

    report = stack.cli("strategy", "report", "--json")
    assert report.returncode == 0, report.stderr
    doc = json.loads(report.stdout)
    pool, _ = await open_database(stack.settings)
    try:
        with_attempts = await pool.fetchval("SELECT count(DISTINCT account_id) FROM attempts")
        collected = await pool.fetchval(
            "SELECT coalesce(sum(amount), 0) FROM payments"
            " WHERE account_id IN (SELECT account_id FROM attempts)"
        )
        attempts = await pool.fetchval("SELECT count(*) FROM attempts")
    finally:
        await pool.close()
    assert sum(d["accounts"] for d in doc) == with_attempts
    assert sum(d["attempts"] for d in doc) == attempts
    assert sum(Decimal(d["collected"]) for d in doc) == collected >= Decimal("100.00")
    kept = [d["kept_rate"] for d in doc if d["kept_rate"][0] is not None]
    assert kept and all(0 <= k[1] <= k[0] <= k[2] <= 1 for k in kept)

"""The `dunline` command line against the real embedded PostgreSQL: import all-or-none, migrate,
and the attempt lifecycle enforced on stored rows."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from dunline.controller.app import open_database
from dunline.dialer.lifecycle import IllegalTransition
from dunline.store import attempts as store

if TYPE_CHECKING:
    from conftest import Stack

pytestmark = pytest.mark.integration

BAD = """external_id,account_ref,full_name,phone,balance,principal,due_date
B-1,ACC-B1,Good Row,+14155550120,10.00,10.00,2026-10-01
B-2,ACC-B2,Bad Phone,+1415,10.00,10.00,2026-10-01
B-3,ACC-B3,Bad Amount,+14155550121,12.345,10.00,2026-13-01
"""


async def _count(stack: Stack, table: str) -> int:
    pool, _ = await open_database(stack.settings)
    try:
        return int(await pool.fetchval(f"SELECT count(*) FROM {table}"))
    finally:
        await pool.close()


async def test_import_reports_every_bad_row_and_stores_nothing(stack: Stack, tmp_path: Path) -> None:
    before = await _count(stack, "accounts")
    bad = tmp_path / "bad.csv"
    bad.write_text(BAD, "utf-8")
    proc = stack.cli("import", "accounts", str(bad))
    assert proc.returncode == 2, proc.stderr
    assert "row 2, column phone" in proc.stdout
    assert "row 3, column balance" in proc.stdout and "row 3, column due_date" in proc.stdout
    assert "+1415" not in proc.stdout  # numbers are masked in the report
    proc = stack.cli("import", "accounts", str(bad), "--json")
    doc = json.loads(proc.stdout)
    assert proc.returncode == 2 and doc["ok"] is False and doc["imported"] == 0
    assert {"row": 2, "column": "phone"}.items() <= doc["errors"][0].items()
    assert doc["errors"][0]["value_masked"].endswith("1415") and "+1415" not in proc.stdout
    assert await _count(stack, "accounts") == before


async def test_import_json_and_migrate(stack: Stack, tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text(BAD.splitlines()[0] + "\n" + BAD.splitlines()[1] + "\n", "utf-8")
    proc = stack.cli("import", "accounts", str(good), "--json", "--upsert")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] is True and doc["rows"] == 1
    proc = stack.cli("db", "migrate", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["version"] >= 1


async def test_illegal_transition_is_refused_and_nothing_is_written(stack: Stack) -> None:
    pool, _ = await open_database(stack.settings)
    try:
        row = await pool.fetchrow(
            "SELECT a.id AS account_id, p.id AS phone_id, p.number_e164 FROM accounts a"
            " JOIN phones p ON p.debtor_id = a.debtor_id LIMIT 1"
        )
        now = datetime.now(UTC)
        aid = await store.create_attempt(
            pool,
            campaign_id=None,
            account_id=row["account_id"],
            phone_id=row["phone_id"],
            number=row["number_e164"],
            at=now,
        )
        await store.transition(pool, aid, "dialing", now)
        await store.transition(pool, aid, "busy", now, hangup_cause=17)
        with pytest.raises(IllegalTransition, match="busy -> answered"):
            await store.transition(pool, aid, "answered", now)
        assert await pool.fetchval("SELECT state FROM attempts WHERE id = $1", aid) == "busy"
        seqs = await pool.fetch(
            "SELECT to_state FROM attempt_transitions WHERE attempt_id = $1 ORDER BY seq", aid
        )
        assert [r["to_state"] for r in seqs] == ["created", "dialing", "busy"]
        with pytest.raises(KeyError):
            await store.transition(pool, uuid.uuid4(), "dialing", now)
    finally:
        await pool.close()

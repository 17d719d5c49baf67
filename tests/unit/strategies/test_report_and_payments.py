"""Payments CSV validation and the champion/challenger comparison (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from dunline.portfolio.payments_csv import parse_payments
from dunline.strategies.ladder import default_ladder, variant_of
from dunline.strategies.report import AccountResult, compare, wilson

GOOD = """account_ref,paid_at,amount,reference
ACC-1,2026-12-04T14:05:00-08:00,200.00,P-1
ACC-1,2026-12-05,50,P-2
ACC-2,2026-12-06T09:00:00+00:00,10.5,
"""


def test_payments_parse_dates_amounts_and_references() -> None:
    rows, errors = parse_payments(GOOD.splitlines())
    assert errors == []
    assert [(r.row, r.account_ref, r.amount, r.reference) for r in rows] == [
        (1, "ACC-1", Decimal("200.00"), "P-1"),
        (2, "ACC-1", Decimal("50.00"), "P-2"),
        (3, "ACC-2", Decimal("10.50"), None),
    ]
    assert rows[1].paid_at == datetime(2026, 12, 5, 12, 0, tzinfo=UTC)  # a plain date: noon UTC


def test_every_bad_cell_is_reported_with_its_row_and_column() -> None:
    bad = """account_ref,paid_at,amount,reference
,2026-12-04T14:05:00,-5,R
ACC-1,tomorrow,1.234,R
ACC-1,2026-12-04,0,R
"""
    rows, errors = parse_payments(bad.splitlines())
    assert rows == []
    got = {(e.row, e.column) for e in errors}
    assert {(1, "account_ref"), (1, "paid_at"), (1, "amount"), (2, "paid_at"), (2, "amount")} <= got
    assert (3, "amount") in got and (3, "reference") in got  # ACC-1/R was row 2's reference already
    assert any("needs an offset" in e.reason for e in errors if e.row == 1)
    _, header = parse_payments(["account_ref,amount,colour", "A,1,red"])
    assert {e.column for e in header} == {"paid_at", "colour"} and all(e.row == 0 for e in header)
    _, dupes = parse_payments(
        ["account_ref,paid_at,amount,reference", "A,2026-12-01,1,X", "A,2026-12-02,2,X"]
    )
    assert [(e.row, e.column) for e in dupes] == [(2, "reference")]


def test_wilson_interval() -> None:
    assert wilson(0, 0) == (None, None, None)
    p, lo, hi = wilson(50, 100)
    assert p == 0.5 and lo is not None and hi is not None and 0.40 < lo < 0.41 and 0.59 < hi < 0.60
    _, lo0, _ = wilson(0, 10)
    assert lo0 == 0.0


def test_compare_counts_each_variant_and_judges_promises_by_payments() -> None:
    ladder = default_ladder()
    now = datetime(2026, 12, 20, tzinfo=UTC)
    made = datetime(2026, 12, 1, tzinfo=UTC)
    accounts = []
    for i in range(40):
        ref = f"R-{i}"
        kept = i % 2 == 0
        payments = [(datetime(2026, 12, 5, tzinfo=UTC), Decimal("100"))] if kept else []
        accounts.append(
            AccountResult(ref, "UTC", 4, 2, [(made, date(2026, 12, 6), Decimal("100"))], payments)
        )
    doc = {d["variant"]: d for d in compare(accounts, now, ladder)}
    assert set(doc) == set(ladder.variants)
    by_variant: dict[str, list[int]] = {}
    for i in range(40):
        by_variant.setdefault(variant_of(f"R-{i}", ladder), []).append(i)
    for name, members in by_variant.items():
        d = doc[name]
        assert d["accounts"] == len(members) and d["attempts"] == 4 * len(members)
        assert d["contact_rate"][0] == 0.5 and d["promise_rate"][0] == 0.5
        kept = sum(1 for i in members if i % 2 == 0)
        assert d["kept_rate"][0] == round(kept / len(members), 4)
        assert Decimal(d["collected"]) == 100 * kept


def test_a_stored_variant_override_puts_the_account_in_that_variant() -> None:
    ladder = default_ladder()
    now = datetime(2026, 12, 20, tzinfo=UTC)
    hashed = {variant_of(f"V-{i}", ladder) for i in range(40)}
    assert len(hashed) > 1  # the hash alone spreads these accounts over the variants
    accounts = [AccountResult(f"V-{i}", "UTC", 1, 0, [], [], variant="challenger") for i in range(40)]
    doc = {d["variant"]: d for d in compare(accounts, now, ladder)}
    assert doc["challenger"]["accounts"] == 40
    assert all(d["accounts"] == 0 for name, d in doc.items() if name != "challenger")

"""The agent's disposition form and the payment plan calculator (pure)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dunline.web import disposition as d
from dunline.web.desk import checklist, phone_endpoint

TODAY = date(2026, 12, 8)
NOW = datetime(2026, 12, 8, 18, 0, tzinfo=UTC)
BAL = Decimal("1250.00")


def run(**form: str) -> d.Decided:
    return d.check(form, balance=BAL, today=TODAY, now=NOW)


def test_promise_within_balance_and_calendar() -> None:
    got = run(outcome="promise_to_pay", amount="200.00", date="2026-12-18")
    assert got == d.Decided("promise_to_pay", None, {"amount": "200.00", "date": date(2026, 12, 18)})


@pytest.mark.parametrize(
    ("form", "field", "why"),
    [
        ({"amount": "1250.01", "date": "2026-12-18"}, "amount", "more than the balance"),
        ({"amount": "0", "date": "2026-12-18"}, "amount", "above 0"),
        ({"amount": "12,50", "date": "2026-12-18"}, "amount", "not an amount"),
        ({"amount": "10.001", "date": "2026-12-18"}, "amount", "two decimal"),
        ({"amount": "10", "date": "2026-12-07"}, "date", "in the past"),
        ({"amount": "10", "date": "2027-02-01"}, "date", "30 days"),
        ({"amount": "10", "date": "18/12/2026"}, "date", "not a date"),
        ({"amount": "10"}, "date", "required"),
    ],
)
def test_bad_promise_names_the_field(form: dict[str, str], field: str, why: str) -> None:
    with pytest.raises(d.DispositionError) as e:
        run(outcome="promise_to_pay", **form)
    assert e.value.field == field and why in str(e.value)


def test_plan_schedule_adds_up_and_is_monthly() -> None:
    got = run(outcome="payment_plan", instalments="3", first_date="2026-12-31")
    sched = got.slots["schedule"]
    assert [s["date"] for s in sched] == ["2026-12-31", "2027-01-31", "2027-02-28"]
    assert sum(Decimal(s["amount"]) for s in sched) == BAL
    assert got.slots["amount"] == "416.66" and sched[-1]["amount"] == "416.68"


@given(
    st.decimals(min_value=Decimal("20.00"), max_value=Decimal("99999.99"), places=2),
    st.integers(min_value=1, max_value=24),
    st.dates(min_value=date(2026, 1, 1), max_value=date(2030, 12, 31)),
)
def test_schedule_always_sums_to_the_balance(balance: Decimal, n: int, first: date) -> None:
    rows = d.schedule(balance, n, first)
    assert len(rows) == n and sum(a for _, a in rows) == balance
    assert all(a > 0 for _, a in rows) and rows[0][0] == first
    assert all(later > earlier for (earlier, _), (later, _) in itertools.pairwise(rows))


def test_plan_limits() -> None:
    with pytest.raises(d.DispositionError, match="instalments: must be from 2"):
        run(outcome="payment_plan", instalments="1", first_date="2026-12-20")
    with pytest.raises(d.DispositionError, match=r"under 10\.00"):
        d.check({"outcome": "payment_plan", "instalments": "24", "first_date": "2026-12-20"},
                balance=Decimal("100.00"), today=TODAY, now=NOW)  # fmt: skip


def test_callback_in_the_future_within_30_days() -> None:
    got = run(outcome="callback", callback_at="2026-12-09T10:30", callback_for="anyone")
    assert got.slots == {"time": "2026-12-09T10:30:00+00:00", "owner": "anyone"}
    for when, why in (("2026-12-08T17:00", "future"), ((NOW + timedelta(days=31)).isoformat(), "30 days")):
        with pytest.raises(d.DispositionError, match=why):
            run(outcome="callback", callback_at=when)


def test_holds_set_the_same_flags_as_the_ivr() -> None:
    for outcome in ("dispute", "hardship", "cease", "attorney", "wrong_number"):
        assert run(outcome=outcome).flag == outcome
    assert run(outcome="refuse", note="angry").slots == {"note": "angry"}
    with pytest.raises(d.DispositionError, match="outcome: must be one of"):
        run(outcome="sold")
    with pytest.raises(d.DispositionError, match="note"):
        run(outcome="refuse", note="x" * 501)


def test_phone_endpoint() -> None:
    assert phone_endpoint(" +1 555 000 1001 ") == "+15550001001"
    assert phone_endpoint("PJSIP/agent7") == "PJSIP/agent7"
    for bad in ("555-0101", "PJSIP/a b", "sip:agent@host", ""):
        with pytest.raises(ValueError, match="phone"):
            phone_endpoint(bad)


def test_checklist_follows_the_profiles() -> None:
    us = checklist(("baseline", "us", "us-ca"), recording=False)
    assert any("Mini-Miranda" in i for i in us) and not any("Recording" in i for i in us)
    cn = checklist(("baseline", "cn"), recording=True)
    assert any("Recording" in i for i in cn) and not any("Mini-Miranda" in i for i in cn)
    assert all(i for i in checklist((), recording=False))

"""Promises to pay: kept / partial / broken / pending from payments, grace in local days, allocation."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dunline.strategies.promises import Payment, Promise, PromiseOutcome, evaluate, summary

NY = ZoneInfo("America/New_York")
LA = ZoneInfo("America/Los_Angeles")
TOKYO = ZoneInfo("Asia/Tokyo")
D = Decimal


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def pay(at: datetime, amount: str) -> Payment:
    return Payment(at, D(amount))


PROMISE = Promise(made_at=utc(2026, 12, 1, 15), due=date(2026, 12, 4), amount=D("200"))


def one(payments: list[Payment], now: datetime, promise: Promise = PROMISE, **kw: Any) -> PromiseOutcome:
    kw.setdefault("tz", NY)
    [outcome] = evaluate([promise], payments, now, **kw)
    return outcome


# --- kept ----------------------------------------------------------------------------------------------


def test_kept_on_time_even_before_due() -> None:
    payment = pay(utc(2026, 12, 3, 17), "200")
    out = one([payment], now=utc(2026, 12, 3, 20))
    assert out.status == "kept"
    assert out.paid == D("200") and out.shortfall == 0
    assert out.settled_at == payment.at
    assert out.payments == (payment,)
    assert out.reason == "kept: paid 200.00 of 200.00 on 2026-12-03 (due 2026-12-04, grace 3 days)"


def test_kept_by_instalments_settles_at_the_payment_reaching_the_amount() -> None:
    first, second = pay(utc(2026, 12, 2, 17), "120"), pay(utc(2026, 12, 5, 17), "80")
    out = one([second, first], now=utc(2026, 12, 20))
    assert out.status == "kept"
    assert out.paid == D("200")
    assert out.settled_at == second.at
    assert out.payments == (first, second)


def test_tolerance_is_one_cent() -> None:
    assert one([pay(utc(2026, 12, 3), "199.99")], now=utc(2026, 12, 20)).status == "kept"
    assert one([pay(utc(2026, 12, 3), "199.98")], now=utc(2026, 12, 20)).status == "partial"


def test_kept_on_last_grace_day_in_local_time_where_utc_date_differs() -> None:
    # LA: due 12-04 + 3 days grace -> the window closes at 2026-12-08 00:00 PST = 08:00 UTC.
    late = pay(utc(2026, 12, 8, 7, 30), "200")  # 2026-12-07 23:30 in Los Angeles, already 12-08 in UTC
    out = one([late], now=utc(2026, 12, 20), tz=LA)
    assert out.closes_at.astimezone(UTC) == utc(2026, 12, 8, 8)
    assert out.status == "kept"
    assert out.reason == "kept: paid 200.00 of 200.00 on 2026-12-07 (due 2026-12-04, grace 3 days)"


def test_east_of_utc_the_local_day_ends_before_the_utc_day() -> None:
    # Tokyo: the window closes at 2026-12-08 00:00 JST = 2026-12-07 15:00 UTC.
    assert one([pay(utc(2026, 12, 7, 14, 59), "200")], now=utc(2026, 12, 20), tz=TOKYO).status == "kept"
    out = one([pay(utc(2026, 12, 7, 15, 30), "200")], now=utc(2026, 12, 20), tz=TOKYO)
    assert out.status == "broken"
    assert out.paid == 0 and out.payments == ()


# --- broken / partial / pending ------------------------------------------------------------------------


def test_broken_the_day_after_grace() -> None:
    first_instant_after = datetime(2026, 12, 8, 0, 0, tzinfo=NY)
    out = one([pay(first_instant_after, "200")], now=utc(2026, 12, 20))
    assert out.status == "broken"
    assert out.paid == 0 and out.shortfall == D("200")
    assert out.settled_at == out.closes_at == first_instant_after
    assert out.reason == (
        "broken: paid 0.00 of 200.00 by 2026-12-07 (due 2026-12-04, grace 3 days), short 200.00"
    )


def test_broken_only_once_the_window_closed() -> None:
    closes = datetime(2026, 12, 8, tzinfo=NY)
    assert one([], now=closes - timedelta(microseconds=1)).status == "pending"
    assert one([], now=closes).status == "broken"


def test_partial_with_the_docstring_numbers() -> None:
    payments = [pay(utc(2026, 12, 3, 16), "100"), pay(utc(2026, 12, 7, 16), "50")]
    out = one(payments, now=utc(2026, 12, 9))
    assert out.status == "partial"
    assert out.paid == D("150") and out.shortfall == D("50")
    assert out.settled_at == out.closes_at
    assert out.reason == (
        "partial: paid 150.00 of 200.00 by 2026-12-07 (due 2026-12-04, grace 3 days), short 50.00"
    )


def test_partial_threshold() -> None:
    now = utc(2026, 12, 20)
    assert one([pay(utc(2026, 12, 3), "100")], now=now).status == "partial"
    assert one([pay(utc(2026, 12, 3), "99.99")], now=now).status == "broken"
    assert one([pay(utc(2026, 12, 3), "150")], now=now, partial_threshold=D("0.8")).status == "broken"


def test_pending_before_due_and_during_grace() -> None:
    out = one([pay(utc(2026, 12, 2, 16), "50")], now=utc(2026, 12, 3))
    assert out.status == "pending"
    assert out.paid == D("50") and out.shortfall == D("150") and out.settled_at is None
    assert out.reason == (
        "pending: paid 50.00 of 200.00 so far, window open through 2026-12-07 (due 2026-12-04, grace 3 days)"
    )
    assert one([], now=utc(2026, 12, 6)).status == "pending"


def test_payments_after_now_are_not_known_yet() -> None:
    out = one([pay(utc(2026, 12, 5), "200")], now=utc(2026, 12, 4))
    assert out.status == "pending" and out.paid == 0


def test_zero_grace_and_singular_day() -> None:
    assert one([pay(utc(2026, 12, 5, 6), "200")], now=utc(2026, 12, 20), grace_days=0).status == "broken"
    out = one([], now=utc(2026, 12, 20), grace_days=1)
    assert "by 2026-12-05 (due 2026-12-04, grace 1 day)" in out.reason


# --- which payments count ------------------------------------------------------------------------------


def test_payment_before_the_promise_was_made_does_not_count() -> None:
    earlier = pay(utc(2026, 12, 1, 10), "200")
    same_instant = pay(PROMISE.made_at, "200")
    out = one([earlier, same_instant], now=utc(2026, 12, 20))
    assert out.status == "broken" and out.paid == 0


def test_multiple_promises_allocate_each_payment_once_oldest_first() -> None:
    older = Promise(utc(2026, 12, 1, 15), date(2026, 12, 4), D("100"))
    newer = Promise(utc(2026, 12, 2, 15), date(2026, 12, 10), D("100"))
    only = pay(utc(2026, 12, 3, 15), "100")
    out_newer, out_older = evaluate([newer, older], [only], utc(2026, 12, 20), tz=NY)  # input order kept
    assert out_older.promise is older and out_older.status == "kept" and out_older.payments == (only,)
    assert out_newer.status == "broken" and out_newer.paid == 0

    second = pay(utc(2026, 12, 5, 15), "100")  # the older one is kept already: goes to the newer
    out_older, out_newer = evaluate([older, newer], [second, only], utc(2026, 12, 20), tz=NY)
    assert (out_older.status, out_newer.status) == ("kept", "kept")
    assert out_newer.payments == (second,)


def test_a_payment_is_never_split() -> None:
    older = Promise(utc(2026, 12, 1, 15), date(2026, 12, 4), D("100"))
    newer = Promise(utc(2026, 12, 2, 15), date(2026, 12, 10), D("100"))
    big = pay(utc(2026, 12, 3, 15), "200")
    out_older, out_newer = evaluate([older, newer], [big], utc(2026, 12, 20), tz=NY)
    assert out_older.paid == D("200") and out_older.status == "kept"
    assert out_newer.paid == 0 and out_newer.status == "broken"


def test_payment_outside_the_older_window_goes_to_the_newer() -> None:
    older = Promise(utc(2026, 12, 1, 15), date(2026, 12, 4), D("100"))
    newer = Promise(utc(2026, 12, 2, 15), date(2026, 12, 20), D("100"))
    after_grace = pay(utc(2026, 12, 12), "100")
    out_older, out_newer = evaluate([older, newer], [after_grace], utc(2026, 12, 30), tz=NY)
    assert out_older.status == "broken"
    assert out_newer.status == "kept"


# --- amount not said -----------------------------------------------------------------------------------


def test_amount_none_uses_the_balance() -> None:
    promise = Promise(utc(2026, 12, 1, 15), date(2026, 12, 4))
    kw: dict[str, Any] = {"now": utc(2026, 12, 20), "promise": promise, "balance_at_promise": D(300)}
    out = one([pay(utc(2026, 12, 3), "300")], **kw)
    assert out.status == "kept"
    assert out.reason == (
        "kept: paid 300.00 of the balance 300.00 on 2026-12-02 (due 2026-12-04, grace 3 days)"
    )
    out = one([pay(utc(2026, 12, 3), "150")], **kw)
    assert out.status == "partial" and out.shortfall == D("150")


def test_amount_and_balance_unknown_any_payment_keeps_it() -> None:
    promise = Promise(utc(2026, 12, 1, 15), date(2026, 12, 4))
    assert one([pay(utc(2026, 12, 3), "0.01")], now=utc(2026, 12, 3, 12), promise=promise).status == "kept"
    out = one([], now=utc(2026, 12, 20), promise=promise)
    assert out.status == "broken" and out.shortfall == 0
    assert out.reason == (
        "broken: paid 0.00 of an unspecified amount by 2026-12-07 (due 2026-12-04, grace 3 days)"
    )


# --- DST -----------------------------------------------------------------------------------------------


def test_fall_back_week_grace_counts_local_days() -> None:
    # Last grace day 2026-11-01 is 25 hours long in New York: the window closes 11-02 00:00 EST = 05:00 UTC.
    promise = Promise(utc(2026, 10, 27, 15), date(2026, 10, 29), D("200"))
    out = one([pay(utc(2026, 11, 2, 4, 30), "200")], now=utc(2026, 11, 20), promise=promise)
    assert out.closes_at.astimezone(UTC) == utc(2026, 11, 2, 5)
    assert out.status == "kept"
    assert out.reason.endswith("on 2026-11-01 (due 2026-10-29, grace 3 days)")
    assert one([pay(utc(2026, 11, 2, 5), "200")], now=utc(2026, 11, 20), promise=promise).status == "broken"


def test_spring_forward_week_grace_counts_local_days() -> None:
    # Last grace day 2026-03-08 is 23 hours long: the window closes 03-09 00:00 EDT = 04:00 UTC.
    promise = Promise(utc(2026, 3, 3, 15), date(2026, 3, 5), D("200"))
    assert one([pay(utc(2026, 3, 9, 3, 59), "200")], now=utc(2026, 3, 20), promise=promise).status == "kept"
    assert one([pay(utc(2026, 3, 9, 4), "200")], now=utc(2026, 3, 20), promise=promise).status == "broken"


# --- validation ----------------------------------------------------------------------------------------


def test_naive_datetimes_are_rejected_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"Promise\.made_at"):
        Promise(datetime(2026, 12, 1), date(2026, 12, 4), D(1))
    with pytest.raises(ValueError, match=r"Payment\.at"):
        Payment(datetime(2026, 12, 1), D(1))
    with pytest.raises(ValueError, match=r"\bnow\b"):
        evaluate([PROMISE], [], datetime(2026, 12, 1), tz=NY)


def test_bad_amounts_are_rejected_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"Payment\.amount"):
        Payment(utc(2026, 12, 1), D("-5"))
    with pytest.raises(ValueError, match=r"Payment\.amount"):
        Payment(utc(2026, 12, 1), D(0))
    with pytest.raises(ValueError, match=r"Promise\.amount"):
        Promise(utc(2026, 12, 1), date(2026, 12, 4), D("-1"))
    with pytest.raises(ValueError, match=r"Promise\.amount"):
        Promise(utc(2026, 12, 1), date(2026, 12, 4), D("NaN"))
    with pytest.raises(ValueError, match="balance_at_promise"):
        evaluate([PROMISE], [], utc(2026, 12, 1), tz=NY, balance_at_promise=D("-1"))
    with pytest.raises(TypeError, match=r"Payment\.amount"):
        Payment(utc(2026, 12, 1), 5.0)  # type: ignore[arg-type]


def test_bad_parameters_are_rejected() -> None:
    with pytest.raises(ValueError, match="grace_days"):
        evaluate([PROMISE], [], utc(2026, 12, 1), tz=NY, grace_days=-1)
    for threshold in ("0", "1.5", "-0.1"):
        with pytest.raises(ValueError, match="partial_threshold"):
            evaluate([PROMISE], [], utc(2026, 12, 1), tz=NY, partial_threshold=D(threshold))
    with pytest.raises(TypeError, match=r"Promise\.due"):
        Promise(utc(2026, 12, 1), utc(2026, 12, 4), D(1))


# --- summary -------------------------------------------------------------------------------------------


def test_summary_counts_and_kept_rate() -> None:
    promises = [
        Promise(utc(2026, 12, 1, 15), date(2026, 12, 4), D("100")),  # kept
        Promise(utc(2026, 12, 1, 16), date(2026, 12, 4), D("100")),  # partial
        Promise(utc(2026, 12, 1, 17), date(2026, 12, 4), D("100")),  # broken
        Promise(utc(2026, 12, 1, 18), date(2026, 12, 30), D("100")),  # pending
    ]
    payments = [pay(utc(2026, 12, 2), "100"), pay(utc(2026, 12, 3), "60")]
    outcomes = evaluate(promises, payments, utc(2026, 12, 20), tz=NY)
    assert [o.status for o in outcomes] == ["kept", "partial", "broken", "pending"]
    assert summary(outcomes) == {
        "pending": 1, "kept": 1, "partial": 1, "broken": 1, "total": 4, "closed": 3, "kept_rate": 1 / 3,
    }  # fmt: skip
    assert summary([])["kept_rate"] is None


# --- properties ----------------------------------------------------------------------------------------

BASE = utc(2026, 1, 1)
hours = st.integers(min_value=0, max_value=24 * 120)
cents = st.integers(min_value=1, max_value=50_000).map(lambda c: D(c) / 100)


def _promise(made_h: int, due_days: int, amount: Decimal | None) -> Promise:
    return Promise(BASE + timedelta(hours=made_h), BASE.date() + timedelta(days=due_days), amount)


def _payment(at_h: int, amount: Decimal) -> Payment:
    return Payment(BASE + timedelta(hours=at_h), amount)


due_days = st.integers(min_value=0, max_value=130)
promises_st = st.lists(st.builds(_promise, hours, due_days, st.none() | cents), max_size=6)
payments_st = st.lists(st.builds(_payment, hours, cents), max_size=12)


@given(
    promises=promises_st,
    payments=payments_st,
    now_h=st.integers(min_value=0, max_value=24 * 270),
    tz=st.sampled_from([NY, LA, TOKYO, ZoneInfo("UTC"), ZoneInfo("Australia/Lord_Howe")]),
    grace=st.integers(min_value=0, max_value=10),
    balance=st.none() | cents,
)
def test_allocation_never_exceeds_payments_and_never_double_counts(
    promises: list[Promise],
    payments: list[Payment],
    now_h: int,
    tz: ZoneInfo,
    grace: int,
    balance: Decimal | None,
) -> None:
    now = BASE + timedelta(hours=now_h)
    outcomes = evaluate(promises, payments, now, tz=tz, grace_days=grace, balance_at_promise=balance)
    assert [o.promise for o in outcomes] == promises
    allocated = Counter(p for o in outcomes for p in o.payments)
    assert not allocated - Counter(payments)  # each payment to at most one promise
    assert sum((o.paid for o in outcomes), D(0)) <= sum((p.amount for p in payments), D(0))
    for o in outcomes:
        assert o.paid == sum((p.amount for p in o.payments), D(0))
        assert o.shortfall >= 0
        for p in o.payments:
            assert o.promise.made_at < p.at < o.closes_at and p.at <= now
        if o.status == "pending":
            assert now < o.closes_at and o.settled_at is None
        elif o.status in ("partial", "broken"):
            assert now >= o.closes_at and o.settled_at == o.closes_at
        else:
            assert o.settled_at == o.payments[-1].at

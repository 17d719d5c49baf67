"""What an agent records at the end of a call (pure): the disposition form's rules and the payment
plan calculator.

`check(form, balance=..., today=..., now=...)` returns the outcome, the account flag it sets (the same
flags as the IVR's) and the slots stored with it, or raises `DispositionError` naming the field:

- promise_to_pay: an amount above 0 and at most the balance, a date from today (the debtor's local
  day) to `PROMISE_DAYS` ahead;
- payment_plan: 2 to `MAX_INSTALMENTS` monthly instalments from a first date within `PROMISE_DAYS`,
  each at least `MIN_INSTALMENT` (the schedule is stored);
- callback: a time in the future and within `CALLBACK_DAYS`; "mine" or "anyone";
- dispute, hardship, cease, attorney, wrong_number set their hold or mark, as on a call to the IVR;
- refuse, already_paid, no_commitment store the outcome only.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any, Final

PROMISE_DAYS: Final = 30
CALLBACK_DAYS: Final = 30
MAX_INSTALMENTS: Final = 24
MIN_INSTALMENT: Final = Decimal("10.00")
FLAGS: Final[dict[str, str]] = {
    "dispute": "dispute",
    "hardship": "hardship",
    "cease": "cease",
    "attorney": "attorney",
    "wrong_number": "wrong_number",
}
OUTCOMES: Final = (
    "promise_to_pay",
    "payment_plan",
    "callback",
    "already_paid",
    "refuse",
    "no_commitment",
    *FLAGS,
)
CENT = Decimal("0.01")


class DispositionError(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field


@dataclass(frozen=True)
class Decided:
    outcome: str
    flag: str | None
    slots: dict[str, Any]


def _money(text: str | None, field: str) -> Decimal:
    if not text:
        raise DispositionError(field, "is required")
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise DispositionError(field, f"{text!r} is not an amount (e.g. 150.00)") from None
    if not value.is_finite() or value <= 0:
        raise DispositionError(field, "must be above 0")
    if value != value.quantize(CENT):
        raise DispositionError(field, "has more than two decimal places")
    return value


def _day(text: str | None, field: str) -> date:
    if not text:
        raise DispositionError(field, "is required")
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise DispositionError(field, f"{text!r} is not a date (YYYY-MM-DD)") from None


def _within(d: date, today: date, days: int, field: str) -> date:
    if d < today:
        raise DispositionError(field, f"{d} is in the past (today is {today} for the debtor)")
    if d > today + timedelta(days=days):
        raise DispositionError(field, f"{d} is more than {days} days ahead")
    return d


def add_months(d: date, months: int) -> date:
    """The same day `months` later, or the month's last day when it has no such day (31 Jan -> 28 Feb)."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def schedule(balance: Decimal, count: int, first: date) -> list[tuple[date, Decimal]]:
    """`count` monthly instalments from `first` that add up to `balance` exactly: equal amounts rounded
    down to the cent, the last one carrying the remainder."""
    if count < 1:
        raise DispositionError("instalments", "must be at least 1")
    each = (balance / count).quantize(CENT, rounding=ROUND_DOWN)
    out = [(add_months(first, i), each) for i in range(count - 1)]
    out.append((add_months(first, count - 1), balance - each * (count - 1)))
    return out


def check(form: dict[str, str], *, balance: Decimal, today: date, now: datetime) -> Decided:
    outcome = (form.get("outcome") or "").strip()
    if outcome not in OUTCOMES:
        raise DispositionError("outcome", f"must be one of {', '.join(OUTCOMES)}")
    slots: dict[str, Any] = {}
    if outcome == "promise_to_pay":
        amount = _money(form.get("amount"), "amount")
        if amount > balance:
            raise DispositionError("amount", f"{amount} is more than the balance {balance}")
        slots = {
            "amount": str(amount),
            "date": _within(_day(form.get("date"), "date"), today, PROMISE_DAYS, "date"),
        }
    elif outcome == "payment_plan":
        try:
            count = int(form.get("instalments") or "")
        except ValueError:
            raise DispositionError("instalments", "must be a whole number") from None
        if not 2 <= count <= MAX_INSTALMENTS:
            raise DispositionError("instalments", f"must be from 2 to {MAX_INSTALMENTS}")
        first = _within(_day(form.get("first_date"), "first_date"), today, PROMISE_DAYS, "first_date")
        plan = schedule(balance, count, first)
        if plan[0][1] < MIN_INSTALMENT:
            raise DispositionError(
                "instalments", f"each instalment would be under {MIN_INSTALMENT}: fewer instalments"
            )
        slots = {
            "amount": str(plan[0][1]),
            "date": first,
            "instalments": count,
            "schedule": [{"date": d.isoformat(), "amount": str(a)} for d, a in plan],
        }
    elif outcome == "callback":
        text = (form.get("callback_at") or "").strip()
        try:
            at = datetime.fromisoformat(text)
        except ValueError:
            raise DispositionError("callback_at", f"{text!r} is not a date and time") from None
        if at.tzinfo is None:
            at = at.replace(tzinfo=now.tzinfo)
        if at <= now:
            raise DispositionError("callback_at", "must be in the future")
        if at > now + timedelta(days=CALLBACK_DAYS):
            raise DispositionError("callback_at", f"must be within {CALLBACK_DAYS} days")
        owner = form.get("callback_for") or "me"
        if owner not in ("me", "anyone"):
            raise DispositionError("callback_for", "must be me or anyone")
        slots = {"time": at.isoformat(), "owner": owner}
    note = (form.get("note") or "").strip()
    if len(note) > 500:
        raise DispositionError("note", "is longer than 500 characters")
    if note:
        slots["note"] = note
    return Decided(outcome, FLAGS.get(outcome), slots)

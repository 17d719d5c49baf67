"""Promises to pay: whether each one is kept, partial, broken or still pending, judged from payments (pure).

A `Promise` is what a debtor said ("200 by the 4th"): when it was made, the local day it is due and the
amount (None = "the balance" or no amount said). A `Payment` is money received. `evaluate()` turns
promises + payments + `now` into one `PromiseOutcome` per promise, in the order the promises were given.

Rules
-----
* Window. A payment counts toward a promise when it was made strictly after `made_at` and before the
  local midnight that ends day `due + grace_days` (local = the debtor's zone `tz`; calendar days, so a
  23- or 25-hour DST day is still one day). That midnight is the outcome's `closes_at`. Payments after
  `now` are ignored: the outcome is what was known at `now`. Instants are compared in UTC.
* Target. `amount`, or when it is None, `balance_at_promise`; when both are None any payment keeps it.
* Allocation. Payments are taken in time order; each goes whole to at most one promise: the oldest
  (by `made_at`, then input order) whose window holds the payment and that is not kept yet. A payment no
  such promise can take is left unallocated; a payment is never split or counted twice. Apart from this
  allocation promises are independent: a newer promise does not cancel or supersede an older one.
* Status.
  - kept: paid >= target - 0.01 (as soon as that happens, even before the due date; `settled_at` is the
    time of the payment that reached the target);
  - pending: not kept and `now` is before `closes_at`;
  - partial: window closed, paid >= `partial_threshold` * target (never for an unknown target);
  - broken: window closed, paid below that.
  `settled_at` is the closing time for partial and broken, None while pending. `shortfall` is
  target - paid, 0 when kept or when the target is unknown.
* Validation. Naive datetimes, amounts <= 0 (or not finite Decimals), negative `grace_days` and a
  `partial_threshold` outside (0, 1] raise ValueError naming the field; wrong types raise TypeError.

Example (tz America/New_York, grace 3 days): a promise made 2026-12-01 of 200.00 due 2026-12-04 has its
window open until 2026-12-08 00:00 local (05:00 UTC). Payments of 100.00 on 12-03 and 50.00 on 12-07:

    evaluate([p], [pay1, pay2], now=datetime(2026, 12, 9, tzinfo=UTC), tz=ny)[0].status == "partial"

with reason "partial: paid 150.00 of 200.00 by 2026-12-07 (due 2026-12-04, grace 3 days), short 50.00".
Had the debtor paid another 50.00 at 23:30 local on 12-07 (04:30 UTC on 12-08) it would be kept.

`summary()` counts outcomes per status and gives the kept rate over closed promises, for reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

PromiseStatus = Literal["pending", "kept", "partial", "broken"]
STATUSES: tuple[PromiseStatus, ...] = ("pending", "kept", "partial", "broken")
TOLERANCE = Decimal("0.01")
ZERO = Decimal(0)


def _aware(value: object, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{field} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{field} must be timezone-aware, got naive {value.isoformat()}")
    return value


def _positive(value: object, field: str) -> Decimal:
    if not isinstance(value, Decimal):
        raise TypeError(f"{field} must be a Decimal, got {type(value).__name__}")
    if not value.is_finite() or value <= 0:
        raise ValueError(f"{field} must be a positive amount, got {value}")
    return value


@dataclass(frozen=True, slots=True)
class Promise:
    """A promise to pay `amount` (None: the balance / not said) by the local day `due`."""

    made_at: datetime
    due: date
    amount: Decimal | None = None

    def __post_init__(self) -> None:
        _aware(self.made_at, "Promise.made_at")
        if isinstance(self.due, datetime) or not isinstance(self.due, date):
            raise TypeError(f"Promise.due must be a date, got {type(self.due).__name__}")
        if self.amount is not None:
            _positive(self.amount, "Promise.amount")


@dataclass(frozen=True, slots=True)
class Payment:
    at: datetime
    amount: Decimal

    def __post_init__(self) -> None:
        _aware(self.at, "Payment.at")
        _positive(self.amount, "Payment.amount")


@dataclass(frozen=True, slots=True)
class PromiseOutcome:
    promise: Promise
    status: PromiseStatus
    paid: Decimal  # sum of the payments allocated to this promise
    shortfall: Decimal  # target - paid; 0 when kept or when the target is unknown
    settled_at: datetime | None  # kept: the payment reaching the target; partial/broken: closes_at
    reason: str  # one sentence, with the numbers
    closes_at: datetime  # the local midnight ending day due + grace (exclusive), in tz
    payments: tuple[Payment, ...] = ()  # the payments allocated to this promise, in time order


def closes_at(promise: Promise, tz: ZoneInfo, grace_days: int) -> datetime:
    """The first instant after the promise's window: local midnight starting day due + grace + 1."""
    return datetime.combine(promise.due + timedelta(days=grace_days + 1), time(0), tzinfo=tz)


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _reached(paid: Decimal, target: Decimal | None) -> bool:
    return paid > 0 if target is None else paid >= target - TOLERANCE


def evaluate(
    promises: Sequence[Promise],
    payments: Sequence[Payment],
    now: datetime,
    *,
    tz: ZoneInfo,
    grace_days: int = 3,
    partial_threshold: Decimal = Decimal("0.5"),
    balance_at_promise: Decimal | None = None,
) -> list[PromiseOutcome]:
    """One outcome per promise (in input order), by the rules of the module docstring."""
    now_utc = _aware(now, "now").astimezone(UTC)
    if not isinstance(tz, ZoneInfo):
        raise TypeError(f"tz must be a ZoneInfo, got {type(tz).__name__}")
    if isinstance(grace_days, bool) or not isinstance(grace_days, int):
        raise TypeError(f"grace_days must be an int, got {type(grace_days).__name__}")
    if grace_days < 0:
        raise ValueError(f"grace_days must be >= 0, got {grace_days}")
    if not isinstance(partial_threshold, Decimal):
        raise TypeError(f"partial_threshold must be a Decimal, got {type(partial_threshold).__name__}")
    if not partial_threshold.is_finite() or not 0 < partial_threshold <= 1:
        raise ValueError(f"partial_threshold must be in (0, 1], got {partial_threshold}")
    if balance_at_promise is not None:
        _positive(balance_at_promise, "balance_at_promise")
    for i, promise in enumerate(promises):
        if not isinstance(promise, Promise):
            raise TypeError(f"promises[{i}] must be a Promise, got {type(promise).__name__}")
    for i, payment in enumerate(payments):
        if not isinstance(payment, Payment):
            raise TypeError(f"payments[{i}] must be a Payment, got {type(payment).__name__}")

    n = len(promises)
    targets = [balance_at_promise if p.amount is None else p.amount for p in promises]
    closes = [closes_at(p, tz, grace_days) for p in promises]
    closes_utc = [c.astimezone(UTC) for c in closes]
    made_utc = [p.made_at.astimezone(UTC) for p in promises]
    oldest_first = sorted(range(n), key=lambda i: (made_utc[i], i))
    paid = [ZERO] * n
    allocated: list[list[Payment]] = [[] for _ in range(n)]
    settled: list[datetime | None] = [None] * n

    known = [p for p in payments if p.at.astimezone(UTC) <= now_utc]
    for payment in sorted(known, key=lambda p: p.at.astimezone(UTC)):
        at = payment.at.astimezone(UTC)
        for i in oldest_first:
            if settled[i] is None and made_utc[i] < at < closes_utc[i]:
                paid[i] += payment.amount
                allocated[i].append(payment)
                if _reached(paid[i], targets[i]):
                    settled[i] = payment.at
                break

    outcomes: list[PromiseOutcome] = []
    for i, promise in enumerate(promises):
        target = targets[i]
        status: PromiseStatus
        if settled[i] is not None:
            status = "kept"
        elif now_utc < closes_utc[i]:
            status = "pending"
        elif target is not None and paid[i] >= partial_threshold * target:
            status = "partial"
        else:
            status = "broken"
        shortfall = ZERO if status == "kept" or target is None else max(target - paid[i], ZERO)
        settled_at = settled[i] if status == "kept" else (closes[i] if status != "pending" else None)
        reason = _reason(promise, status, paid[i], target, shortfall, settled[i], tz, grace_days)
        outcome = PromiseOutcome(
            promise, status, paid[i], shortfall, settled_at, reason, closes[i], tuple(allocated[i])
        )
        outcomes.append(outcome)
    return outcomes


def _reason(
    promise: Promise,
    status: PromiseStatus,
    paid: Decimal,
    target: Decimal | None,
    shortfall: Decimal,
    settled: datetime | None,
    tz: ZoneInfo,
    grace_days: int,
) -> str:
    last_day = (promise.due + timedelta(days=grace_days)).isoformat()
    plural = "" if grace_days == 1 else "s"
    terms = f"due {promise.due.isoformat()}, grace {grace_days} day{plural}"
    if target is None:
        of = "of an unspecified amount"
    elif promise.amount is None:
        of = f"of the balance {_money(target)}"
    else:
        of = f"of {_money(target)}"
    if status == "kept" and settled is not None:
        on = settled.astimezone(tz).date().isoformat()
        return f"kept: paid {_money(paid)} {of} on {on} ({terms})"
    if status == "pending":
        return f"pending: paid {_money(paid)} {of} so far, window open through {last_day} ({terms})"
    short = f", short {_money(shortfall)}" if target is not None else ""
    return f"{status}: paid {_money(paid)} {of} by {last_day} ({terms}){short}"


def summary(outcomes: Sequence[PromiseOutcome]) -> dict[str, int | float | None]:
    """Counts per status, `total`, `closed` (kept + partial + broken) and `kept_rate` = kept / closed
    (None when nothing is closed yet)."""
    counts: dict[str, int] = {s: sum(1 for o in outcomes if o.status == s) for s in STATUSES}
    closed = counts["kept"] + counts["partial"] + counts["broken"]
    kept_rate = counts["kept"] / closed if closed else None
    return {**counts, "total": len(outcomes), "closed": closed, "kept_rate": kept_rate}

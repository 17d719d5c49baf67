"""A repayment plan to offer (pure): how many monthly instalments, of how much, due when.

The offer spreads the balance over as few months as keep each instalment affordable: at most
`MAX_SHARE` of the balance a month and no less than `MIN_INSTALMENT` (in the account's currency),
between `MIN_MONTHS` and `MAX_MONTHS` months; the last instalment takes the cents left over, so the
instalments add up to the balance exactly. The first instalment falls `FIRST_AFTER_DAYS` after the
offer, the others a calendar month apart (the 31st becomes the month's last day).
"""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_UP, Decimal

MIN_MONTHS, MAX_MONTHS = 3, 12
MAX_SHARE = Decimal("0.34")  # a third of the balance a month at most: three months or more
MIN_INSTALMENT = Decimal("25")
FIRST_AFTER_DAYS = 14
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Instalment:
    n: int
    due: date
    amount: Decimal


@dataclass(frozen=True)
class Offer:
    months: int
    monthly: Decimal  # every instalment but the last
    instalments: tuple[Instalment, ...]

    @property
    def total(self) -> Decimal:
        return sum((i.amount for i in self.instalments), Decimal(0))


def add_months(day: date, months: int) -> date:
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def offer(balance: Decimal, today: date) -> Offer:
    """The plan for `balance` (> 0) offered on `today`."""
    if balance <= 0:
        raise ValueError(f"no plan for a balance of {balance}: nothing is owed")
    by_floor = math.floor(balance / MIN_INSTALMENT)  # months that keep an instalment >= the minimum
    months = max(MIN_MONTHS, min(MAX_MONTHS, by_floor))
    if balance * MAX_SHARE < MIN_INSTALMENT:  # a small balance: the minimum wins over three months
        months = max(1, min(months, by_floor))
    monthly = (balance / months).quantize(CENT, rounding=ROUND_UP)
    first = today + timedelta(days=FIRST_AFTER_DAYS)
    rows = []
    left = balance
    for n in range(1, months + 1):
        amount = monthly if n < months else left
        if amount <= 0:
            break
        rows.append(Instalment(n, add_months(first, n - 1), amount))
        left -= amount
    return Offer(len(rows), monthly, tuple(rows))

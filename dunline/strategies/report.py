"""Champion/challenger comparison (pure): per strategy variant, the yield pyramid with 95% intervals.

Rates (Wilson score intervals): contact rate = answered calls that reached a person / attempts;
promise rate = promises to pay / contacts; kept rate = kept promises / promises whose window has
closed (strategies.promises: kept, partial and broken are closed). Amount collected: the sum of
payments and the mean per account, with a normal-approximation interval for the mean.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from dunline.strategies import promises as rules
from dunline.strategies.ladder import Ladder, default_ladder, variant_of

Z = 1.959963984540054  # 95%


@dataclass(frozen=True)
class AccountResult:
    account_ref: str
    timezone: str | None
    attempts: int
    contacts: int
    promises: Sequence[tuple[datetime, date, Decimal | None]]  # made at, due, amount
    payments: Sequence[tuple[datetime, Decimal]]
    variant: str | None = None  # the account's stored override; else the stable hash decides


@dataclass
class _Tally:
    accounts: int = 0
    attempts: int = 0
    contacts: int = 0
    promises: int = 0
    kept: int = 0
    closed: int = 0
    collected: list[Decimal] = field(default_factory=list)


def wilson(hits: int, n: int) -> tuple[float | None, float | None, float | None]:
    if n == 0:
        return None, None, None
    p = hits / n
    denom = 1 + Z * Z / n
    centre = (p + Z * Z / (2 * n)) / denom
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / denom
    return round(p, 4), round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)


def _mean_ci(values: Sequence[Decimal]) -> tuple[float | None, float | None, float | None]:
    n = len(values)
    if n == 0:
        return None, None, None
    xs = [float(v) for v in values]
    mean = sum(xs) / n
    if n == 1:
        return round(mean, 2), None, None
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    half = Z * sd / math.sqrt(n)
    return round(mean, 2), round(mean - half, 2), round(mean + half, 2)


def compare(
    results: Sequence[AccountResult], now: datetime, ladder: Ladder | None = None
) -> list[dict[str, Any]]:
    ladder = ladder or default_ladder()
    tallies: dict[str, _Tally] = {name: _Tally() for name in sorted(ladder.variants)}
    for r in results:
        t = tallies.setdefault(r.variant or variant_of(r.account_ref, ladder), _Tally())
        t.accounts += 1
        t.attempts += r.attempts
        t.contacts += r.contacts
        t.promises += len(r.promises)
        tz = ZoneInfo(r.timezone) if r.timezone else ZoneInfo("UTC")
        made = [rules.Promise(at, due, amount) for at, due, amount in r.promises]
        paid = [rules.Payment(at, amount) for at, amount in r.payments]
        for o in rules.evaluate(made, paid, now, tz=tz) if made else []:
            if o.status != "pending":
                t.closed += 1
                t.kept += o.status == "kept"
        t.collected.append(sum((a for _, a in r.payments), Decimal("0")))
    out = []
    for name, t in tallies.items():
        mean, lo, hi = _mean_ci(t.collected)
        out.append(
            {
                "variant": name,
                "accounts": t.accounts,
                "attempts": t.attempts,
                "contact_rate": wilson(t.contacts, t.attempts),
                "promise_rate": wilson(t.promises, t.contacts),
                "kept_rate": wilson(t.kept, t.closed),
                "collected": str(sum(t.collected, Decimal("0"))),
                "collected_per_account": (mean, lo, hi),
            }
        )
    return out

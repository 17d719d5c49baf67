"""Clocks for runs that must happen inside calling hours whatever the real time (the demo, tests).

`starting_at(t)` is a clock that reads `t` now and then advances with real time. `earliest_lawful`
asks the compliance gate (without recording anything) when every given account may be called, so the
demo can say "simulated clock: ..." instead of showing a night of blocked calls.
"""

from __future__ import annotations

import time as monotonic
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from dunline.compliance.model import Kind
from dunline.dialer import clearance
from dunline.store.accounts import AccountView


def starting_at(start: datetime) -> Callable[[], datetime]:
    t0 = monotonic.monotonic()

    def clock() -> datetime:
        return start + timedelta(seconds=monotonic.monotonic() - t0)

    return clock


async def earliest_lawful(
    pool: asyncpg.Pool,
    accounts: Iterable[AccountView],
    *,
    kind: Kind,
    caller_id: str,
    after: datetime | None = None,
) -> datetime:
    """The earliest time >= `after` at which the gate allows a call to each account that it ever
    allows (accounts blocked for good, e.g. by a cease flag, are left to be blocked)."""
    t = after or datetime.now(UTC)
    for _ in range(10):
        later = t
        for acc in accounts:
            if acc.phone_e164 is None:
                continue
            v = await clearance.preview(
                pool, account_id=acc.account_id, number=acc.phone_e164, kind=kind, caller_id=caller_id, at=t
            )
            if not v.allowed and v.next_allowed_at is not None and v.next_allowed_at > later:
                later = v.next_allowed_at
        if later == t:
            return t
        t = later
    return t


def next_weekday_at(weekday: int, at: time, zone: str, now: datetime | None = None) -> datetime:
    """The next `weekday` (0 = Monday) after today, at `at` in `zone`: e.g. Tuesday 11:00 in
    California, inside every US calling window (14:00 in New York)."""
    z = ZoneInfo(zone)
    day = (now or datetime.now(UTC)).astimezone(z).date() + timedelta(days=1)
    while day.weekday() != weekday:
        day += timedelta(days=1)
    return datetime.combine(day, at, tzinfo=z)

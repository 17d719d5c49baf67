"""How each rule type is evaluated at one instant (pure).

`evaluate(rule, ctx, t)` returns None when the rule lets the attempt through at `t`, else a `Block`
with the reason and `until`: the earliest instant >= t at which this rule alone would pass given the
same history (None: no time passes without a new fact, e.g. a cease flag). The gate combines them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dunline.compliance.model import Attempt, Contact, Ledger, Phone, mask_number
from dunline.compliance.profiles import (
    CallerIdRule,
    CapRule,
    ConsentRule,
    ConsumerWindowsRule,
    ContactPartyRule,
    CooldownRule,
    HoldRule,
    HoursRule,
    Match,
    Rule,
    WrongNumberRule,
)
from dunline.compliance.zones import valid_number

DAY = 86400.0
ANSWERED = frozenset({"conversation", "answered"})


@dataclass(frozen=True, slots=True)
class Block:
    rule: str
    reason: str
    until: datetime | None


@dataclass(frozen=True, slots=True)
class Context:
    attempt: Attempt
    ledger: Ledger
    flags: frozenset[str]
    zones: tuple[ZoneInfo, ...]  # every zone the debtor may be in
    home: ZoneInfo | None  # the zone of the debtor's own statements (address, else first phone)
    phone: Phone | None  # the attempted number as the account knows it

    def attempt_matches(self, m: Match) -> bool:
        a = self.attempt
        if m.channels is not None and a.channel not in m.channels:
            return False
        if m.direction is not None and m.direction != "outbound":
            return False
        if m.kinds is not None and a.kind not in m.kinds:
            return False
        if m.autodialed is not None and a.autodialed != m.autodialed:
            return False
        p = self.phone
        if m.phone_types is not None and (p is None or p.type not in m.phone_types):
            # an unknown number is governed by the rule (the strict reading)
            return p is None and a.phone is not None
        if m.roles is not None and (p.role if p else "debtor") not in m.roles:
            return False
        return not (m.consent is not None and (p.consent if p else False) != m.consent)

    def counts(self, m: Match, c: Contact) -> bool:
        if m.channels is not None and c.channel not in m.channels:
            return False
        if m.direction is not None and c.direction != m.direction:
            return False
        if m.results is not None and c.result not in m.results:
            return False
        if m.kinds is not None and c.kind is not None and c.kind not in m.kinds:
            return False
        if m.same_phone and c.phone is not None and c.phone != self.attempt.phone:
            return False  # an entry whose number is unknown may have been this number: counted
        if m.phone_types is not None or m.roles is not None:
            p = self.attempt.account.phone(c.phone)
            if p is not None:
                if m.phone_types is not None and p.type not in m.phone_types:
                    return False
                if m.roles is not None and p.role not in m.roles:
                    return False
        return True


def _at(d: date, clock: time, z: ZoneInfo, after: datetime | None = None) -> datetime:
    """The first instant at which the local clock in `z` reads `clock` (or later) on day `d`.

    Daylight saving: a wall time skipped by a spring-forward change gives the instant of the change
    (the clock jumps past it); a wall time repeated by a fall-back change gives its first occurrence,
    or the second when the first is not after `after`.
    """
    naive = datetime.combine(d, clock)
    first, second = naive.replace(tzinfo=z, fold=0), naive.replace(tzinfo=z, fold=1)
    u0, u1 = first.astimezone(UTC), second.astimezone(UTC)
    if u0 == u1:
        return first
    if u0 < u1:  # repeated hour
        return second if after is not None and u0 <= after else first
    lo, hi = int(u1.timestamp()), int(u0.timestamp())  # skipped hour: find the change, to the second
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, z).replace(tzinfo=None) >= naive:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, z)


def _midnight(t: datetime, z: ZoneInfo) -> datetime:
    return _at(t.astimezone(z).date(), time(0), z)


def _next_midnight(t: datetime, z: ZoneInfo) -> datetime:
    return _at(t.astimezone(z).date() + timedelta(days=1), time(0), z)


def _fmt(t: datetime, z: ZoneInfo | None = None) -> str:
    return (t.astimezone(z) if z else t).isoformat(timespec="minutes")


def hours(rule: HoursRule, ctx: Context, t: datetime) -> Block | None:
    if not ctx.zones:
        return Block(rule.id, f"{rule.id}: no time zone is known for any location of the debtor", None)
    worst: Block | None = None
    for z in ctx.zones:
        local = t.astimezone(z)
        b = rule.bounds(local.weekday())
        now_clock = local.time()
        if b is not None and b[0] <= now_clock < b[1]:
            continue
        day = local.date()
        if b is None or now_clock >= b[1]:
            day += timedelta(days=1)
        for _ in range(8):
            nb = rule.bounds(day.weekday())
            if nb is not None:
                break
            day += timedelta(days=1)
        else:
            return Block(rule.id, f"{rule.id}: every day is closed", None)
        until = _at(day, nb[0], z, after=t)
        span = "closed today" if b is None else f"outside {b[0]:%H:%M}-{_end(b[1])}"
        reason = f"{rule.id}: {local:%a %H:%M} in {z.key} is {span} ({rule.source or rule.description})"
        if worst is None or (worst.until is not None and until > worst.until):
            worst = Block(rule.id, reason, until)
    return worst


def _end(t: time) -> str:
    return "24:00" if t == time.max else f"{t:%H:%M}"


def consumer_windows(rule: ConsumerWindowsRule, ctx: Context, t: datetime) -> Block | None:
    z = ctx.home
    if z is None:
        return None
    local = t.astimezone(z)
    clock, today = local.time(), local.date()
    for w in ctx.attempt.account.debtor_windows:
        if w.channels and ctx.attempt.channel not in w.channels:
            continue
        if w.start <= w.end:
            inside = (not w.days or today.weekday() in w.days) and w.start <= clock < w.end
            end_day = today
        elif clock >= w.start:  # wraps midnight, evening part
            inside = not w.days or today.weekday() in w.days
            end_day = today + timedelta(days=1)
        else:  # wraps midnight, morning part: the window began yesterday
            inside = clock < w.end and (not w.days or (today - timedelta(days=1)).weekday() in w.days)
            end_day = today
        if inside:
            until = _at(end_day, w.end, z, after=t)
            return Block(
                rule.id,
                f"{rule.id}: the debtor said {w.start:%H:%M}-{_end(w.end)} is inconvenient",
                until,
            )
    return None


def cap(rule: CapRule, ctx: Context, t: datetime) -> Block | None:
    secs = rule.seconds()
    if secs is not None:
        counted = [c for c in ctx.ledger.after(t.timestamp() - secs) if ctx.counts(rule.counts, c)]
        if len(counted) < rule.limit:
            return None
        until = counted[len(counted) - rule.limit].at + timedelta(seconds=secs)
        return Block(rule.id, _cap_reason(rule, counted, f"the last {rule.window}"), until)
    if not ctx.zones:
        return None  # the hours rule already blocks an account without a zone
    start = min(_midnight(t, z) for z in ctx.zones)
    counted = [c for c in ctx.ledger.since(start.timestamp()) if ctx.counts(rule.counts, c)]
    if len(counted) < rule.limit:
        return None
    candidates = sorted({_next_midnight(t, z) for z in ctx.zones})
    until = candidates[-1]
    for cand in candidates:
        day_start = min(_midnight(cand, z) for z in ctx.zones)
        if sum(1 for c in counted if c.at >= day_start) < rule.limit:
            until = cand
            break
    return Block(rule.id, _cap_reason(rule, counted, "today (local time)"), until)


def _cap_reason(rule: CapRule, counted: Sequence[Contact], span: str) -> str:
    what = "/".join(sorted(rule.counts.channels)) if rule.counts.channels else "contact"
    return f"{rule.id}: {len(counted)} {what} entries in {span}, limit {rule.limit} ({rule.source})"


def cooldown(rule: CooldownRule, ctx: Context, t: datetime) -> Block | None:
    horizon = (rule.calendar_days + 2) * DAY if rule.calendar_days else (rule.hours or 0) * 3600.0
    end: datetime | None = None
    cause: Contact | None = None
    for c in ctx.ledger.after(t.timestamp() - horizon):
        if not ctx.counts(rule.after, c):
            continue
        if rule.hours is not None:
            e = c.at + timedelta(hours=rule.hours)
        else:
            days = rule.calendar_days or 0
            zones = ctx.zones or (ZoneInfo("UTC"),)
            e = max(_at(c.at.astimezone(z).date() + timedelta(days=days), time(0), z) for z in zones)
        if e > t and (end is None or e > end):
            end, cause = e, c
    if end is None or cause is None:
        return None
    return Block(
        rule.id,
        f"{rule.id}: {cause.result} by {cause.channel} at {_fmt(cause.at, ctx.home)}; "
        f"no contact before {_fmt(end, ctx.home)} ({rule.source})",
        end,
    )


def hold(rule: HoldRule, ctx: Context, t: datetime) -> Block | None:
    if rule.flag not in ctx.flags:
        return None
    return Block(rule.id, f"{rule.id}: the account is flagged {rule.flag} ({rule.description})", None)


def consent(rule: ConsentRule, ctx: Context, t: datetime) -> Block | None:
    p = ctx.phone
    if p is not None and p.consent:
        return None
    num = mask_number(ctx.attempt.phone)
    what = f"an autodialed {ctx.attempt.kind}" if ctx.attempt.autodialed else f"a {ctx.attempt.kind}"
    return Block(rule.id, f"{rule.id}: no prior express consent for {what} call to {num}", None)


def caller_id(rule: CallerIdRule, ctx: Context, t: datetime) -> Block | None:
    cid = ctx.attempt.caller_id
    if cid and valid_number(cid):
        return None
    return Block(rule.id, f"{rule.id}: caller ID {cid!r} is not a valid, returnable number", None)


def wrong_number(rule: WrongNumberRule, ctx: Context, t: datetime) -> Block | None:
    if ctx.phone is None or not ctx.phone.wrong_number:
        return None
    return Block(rule.id, f"{rule.id}: {mask_number(ctx.phone.number)} is marked not the debtor's", None)


def contact_party(rule: ContactPartyRule, ctx: Context, t: datetime) -> Block | None:
    p = ctx.phone
    if p is None or p.role != "contact":
        return None
    if p.refused or any(c.phone == p.number and c.result == "refused" for c in ctx.ledger.contacts):
        return Block(rule.id, f"{rule.id}: this contact refused; never contacted again", None)
    # calls to numbers known not to be the debtor's are not attempts to reach the debtor
    own = {q.number for q in ctx.attempt.account.phones if q.role == "debtor" and not q.wrong_number}
    window = rule.days * DAY
    recent = [c for c in ctx.ledger.after(t.timestamp() - window) if c.phone in own or c.phone is None]
    talks = [c for c in recent if c.result in ANSWERED]
    tries = [
        c for c in recent if c.channel == "call" and c.direction == "outbound" and c.result not in ANSWERED
    ]
    if not talks and len(tries) >= rule.attempts:
        return None
    until: datetime | None = None
    if talks and len(tries) >= rule.attempts:
        free_at = max(c.at for c in talks) + timedelta(seconds=window)
        lose_at = tries[len(tries) - rule.attempts].at + timedelta(seconds=window)
        until = free_at if free_at < lose_at else None
    return Block(
        rule.id,
        f"{rule.id}: the debtor is not unreachable ({len(talks)} answered, {len(tries)} unanswered "
        f"of {rule.attempts} needed in {rule.days} days)",
        until,
    )


_EVALUATORS: dict[type, Callable[[Any, Context, datetime], Block | None]] = {
    HoursRule: hours,
    ConsumerWindowsRule: consumer_windows,
    CapRule: cap,
    CooldownRule: cooldown,
    HoldRule: hold,
    ConsentRule: consent,
    CallerIdRule: caller_id,
    WrongNumberRule: wrong_number,
    ContactPartyRule: contact_party,
}


def evaluate(rule: Rule, ctx: Context, t: datetime) -> Block | None:
    if not ctx.attempt_matches(rule.applies_to):
        return None
    return evaluate_governing(rule, ctx, t)


def evaluate_governing(rule: Rule, ctx: Context, t: datetime) -> Block | None:
    """`evaluate` for a rule already known to govern the attempt (`ctx.attempt_matches`)."""
    fn = _EVALUATORS.get(type(rule))
    if fn is None:
        raise TypeError(f"unknown rule type {type(rule).__name__}")
    return fn(rule, ctx, t)

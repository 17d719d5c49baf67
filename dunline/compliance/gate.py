"""The compliance gate: `check(attempt, ledger, flags, now) -> Verdict` (pure).

Every contact with a debtor (call, SMS, letter, voicemail, email) passes here first. The account is
governed by the baseline profile and by every jurisdiction profile that covers any of its known
locations (address, each of the debtor's numbers); every rule of every governing profile is evaluated,
so the strictest wins. A blocked verdict names each rule that blocked, why, and `next_allowed_at`: the
earliest instant at which the same attempt would pass with the same history (None: only a new fact,
such as a lifted flag or fresh consent, can let it through).

`next_allowed_at` is found by iteration: each blocking rule says when it alone would pass; the latest of
those is a lower bound for all of them passing, so the gate re-evaluates there until nothing blocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from dunline.compliance.model import Attempt, Ledger, Verdict
from dunline.compliance.profiles import Profile, Rule, default_profiles
from dunline.compliance.rules import Block, Context, evaluate_governing
from dunline.compliance.zones import account_zones, locations, primary_zone, zone

HORIZON = timedelta(days=400)  # beyond this, "no time found" is reported as never
MAX_ROUNDS = 200


class GateError(ValueError):
    """An attempt the gate cannot judge (naive `now`, unknown channel): a bug in the caller."""


Where = tuple[tuple[str, str | None, str | None], ...]
_CACHE: dict[tuple[int, Where], tuple[tuple[Profile, ...], tuple[Profile, ...], tuple[Rule, ...]]] = {}


def governing(profiles: tuple[Profile, ...], where: Where) -> tuple[tuple[Profile, ...], tuple[Rule, ...]]:
    """The profiles covering any of the locations, and their enabled rules (cached per location set)."""
    key = (id(profiles), where)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is profiles:
        return hit[1], hit[2]
    chosen = tuple(p for p in profiles if any(p.covers(*loc) for loc in where))
    rules = tuple(r for p in chosen for r in p.rules if r.enabled)
    if len(_CACHE) > 4096:
        _CACHE.clear()
    _CACHE[key] = (profiles, chosen, rules)
    return chosen, rules


def _context(attempt: Attempt, ledger: Ledger, flags: frozenset[str]) -> Context:
    zones = tuple(z for z in (zone(n) for n in account_zones(attempt.account)) if z is not None)
    home_name = primary_zone(attempt.account)
    return Context(
        attempt=attempt,
        ledger=ledger,
        flags=flags,
        zones=zones,
        home=zone(home_name) if home_name else None,
        phone=attempt.account.phone(attempt.phone),
    )


def _blocks(rules: Sequence[Rule], ctx: Context, t: datetime) -> list[Block]:
    return [
        b for b in (evaluate_governing(r, ctx, t) for r in rules if not _waived(r, ctx, t)) if b is not None
    ]


def _waived(rule: Rule, ctx: Context, t: datetime) -> bool:
    """The debtor asked for this contact within the rule's `consent_days` (not in the future)."""
    days = getattr(rule, "consent_days", None)
    asked = ctx.attempt.asked_at
    return days is not None and asked is not None and t - timedelta(days=days) <= asked <= t


def check(
    attempt: Attempt,
    ledger: Ledger,
    flags: frozenset[str] | set[str] | Sequence[str],
    now: datetime,
    profiles: tuple[Profile, ...] | None = None,
) -> Verdict:
    if now.tzinfo is None or now.utcoffset() is None:
        raise GateError("`now` must carry a time zone")
    now = now.astimezone(UTC)  # a wall time that does not exist in its own zone is read as an instant
    chosen, rules = governing(profiles or default_profiles(), locations(attempt.account))
    names = tuple(p.id for p in chosen)
    if not any(p.jurisdiction for p in chosen):
        country = attempt.account.country
        return Verdict(
            False,
            ("no-profile",),
            (f"no-profile: no jurisdiction profile covers {country}; nothing is allowed until one does",),
            None,
            names,
        )
    ctx = _context(attempt, ledger, frozenset(flags))
    rules = tuple(r for r in rules if ctx.attempt_matches(r.applies_to))  # fixed for this attempt
    blocks = _blocks(rules, ctx, now)
    if not blocks:
        waived = tuple(
            r.id for r in rules if _waived(r, ctx, now) and evaluate_governing(r, ctx, now) is not None
        )
        return Verdict(True, (), (), None, names, waived)
    ids = tuple(dict.fromkeys(b.rule for b in blocks))
    reasons = tuple(dict.fromkeys(b.reason for b in blocks))
    return Verdict(False, ids, reasons, _next_allowed(rules, ctx, now, blocks), names)


def _next_allowed(rules: Sequence[Rule], ctx: Context, now: datetime, blocks: list[Block]) -> datetime | None:
    t = now
    for _ in range(MAX_ROUNDS):
        if any(b.until is None for b in blocks):
            return None
        later = max(b.until for b in blocks if b.until is not None)
        if later <= t:  # a rule that cannot say when it passes: step a minute (never expected)
            later = t + timedelta(minutes=1)
        t = later
        if t - now > HORIZON:
            return None
        blocks = _blocks(rules, ctx, t)
        if not blocks:
            return t
    return None

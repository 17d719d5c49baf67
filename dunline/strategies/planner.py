"""`plan(profile, history, now) -> Plan` (pure): how hard to press, through which channel, when, with
which words, and why.

1. Score the account (scorecard.py) -> tier; pick the champion/challenger variant (stable hash).
2. Stage, with a reason for every move:
   - cease or attorney flag -> `stopped`; dispute -> `hold`; hardship -> `hardship`;
     nothing owed -> `stopped`;
   - start at the tier's stage, at least the stage the days overdue imply (`stage_by_days`);
   - each broken promise moves one stage up; a kept promise with a balance left, one stage down;
   - `no_response_after` outbound contacts since the debtor last responded move one stage up.
3. A pending promise (its date not passed) pauses the ladder: the only step is a reminder SMS the day
   before the promised date.
4. Steps of the stage: each step's next use (spacing, max attempts, from_day, its preferred local
   time), late-stage legal wording only when the account has a legal step configured.
5. Adaptation: per channel a Beta-Bernoulli estimate of the response rate (portfolio priors from
   the ladder + this debtor's history). A debtor whose calls go unanswered while SMS gets read gets
   SMS (with the consequences stated) instead of calls; calls go to the time band that answered best.
6. Compliance: every proposed time goes through the gate (`compliance.gate.check`) with the history
   plus the steps already planned; a blocked step moves to `next_allowed_at`, or is dropped when the
   gate never allows it (the reason names the rule).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dunline.compliance import gate
from dunline.compliance.model import Account, Attempt, Contact, Kind, Ledger
from dunline.compliance.profiles import Profile
from dunline.compliance.zones import primary_zone, zone
from dunline.strategies import promises as promise_rules
from dunline.strategies.history import Touch
from dunline.strategies.ladder import ORDER, Ladder, StepSpec, default_ladder, variant_of
from dunline.strategies.profile import AccountProfile
from dunline.strategies.scorecard import Card, Score, default_card, score

RESPONSES = frozenset({"conversation", "answered", "replied", "read"})
BANDS = {"morning": time(10, 0), "afternoon": time(14, 0), "evening": time(18, 30)}
SHIFT_RATIO = 0.5  # calls are replaced by SMS when their estimated response rate is under half SMS's


@dataclass(frozen=True)
class Step:
    at: datetime
    channel: str
    template: str
    reason: str

    def as_json(self) -> dict[str, str]:
        return {
            "at": self.at.isoformat(),
            "channel": self.channel,
            "template": self.template,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Plan:
    score: Score
    variant: str
    stage: str  # early | mid | late | hardship | hold | stopped
    reasons: tuple[str, ...]  # why this stage, and every adaptation
    steps: tuple[Step, ...] = field(default_factory=tuple)

    def as_json(self) -> dict[str, Any]:
        return {
            "score": self.score.score,
            "tier": self.score.tier,
            "reasons": list(self.score.reasons) + list(self.reasons),
            "variant": self.variant,
            "stage": self.stage,
            "steps": [s.as_json() for s in self.steps],
        }


def _zone(account: Account) -> ZoneInfo:
    name = primary_zone(account)
    return (zone(name) if name else None) or ZoneInfo("UTC")


def _responded(c: Contact) -> bool:
    return c.direction == "inbound" or c.result in RESPONSES


def _rate(prior: tuple[float, float], hits: int, trials: int) -> float:
    a, b = prior
    return (a + hits) / (a + b + trials)


def _channel_stats(history: Sequence[Touch], channel: str) -> tuple[int, int]:
    outs = [t.contact for t in history if t.contact.channel == channel and t.contact.direction == "outbound"]
    return sum(1 for c in outs if _responded(c)), len(outs)


def _promises(
    profile: AccountProfile, history: Sequence[Touch], now: datetime, tz: ZoneInfo
) -> list[promise_rules.PromiseOutcome]:
    made = [
        promise_rules.Promise(t.contact.at, t.promise_date, t.promise_amount)
        for t in history
        if t.promise_date is not None
    ]
    if not made:
        return []
    paid = [promise_rules.Payment(p.at, p.amount) for p in profile.payments]
    return promise_rules.evaluate(made, paid, now, tz=tz)


def _stage(
    profile: AccountProfile,
    ladder: Ladder,
    tier: str,
    variant: str,
    history: Sequence[Touch],
    outcomes: Sequence[promise_rules.PromiseOutcome],
    today: date,
) -> tuple[str, list[str]]:
    flags = profile.flags()
    if flags & {"cease", "attorney"}:
        return "stopped", [f"account flagged {'/'.join(sorted(flags & {'cease', 'attorney'}))}: no contact"]
    if "dispute" in flags:
        return "hold", ["disputed: collection on hold until verification is sent"]
    if "hardship" in flags:
        return "hardship", ["hardship: a plan offer by an agent instead of the ladder"]
    balance = profile.balance()
    if balance is not None and balance <= 0:
        return "stopped", ["nothing owed"]
    why = []
    level = ORDER.index(ladder.start(tier, variant))
    why.append(f"{tier} risk starts at {ORDER[level]}")
    days = profile.days_overdue(today)
    if days is not None:
        by_days = max(i for i, s in enumerate(ORDER) if days >= ladder.stage_by_days.get(s, 0))
        if by_days > level:
            level = by_days
            why.append(f"{days} days overdue: at least {ORDER[level]}")
    broken = sum(1 for o in outcomes if o.status == "broken")
    kept = sum(1 for o in outcomes if o.status == "kept")
    if broken:
        level = min(level + broken, len(ORDER) - 1)
        why.append(f"{broken} broken promise(s): up to {ORDER[level]}")
    if kept and balance:
        level = max(level - 1, 0)
        why.append(f"promise kept, {balance} left: down to {ORDER[level]}")
    silent = 0
    for t in sorted(history, key=lambda t: t.contact.at, reverse=True):
        if _responded(t.contact):
            break
        if t.contact.direction == "outbound":
            silent += 1
    while True:
        spec = ladder.stages[ORDER[level]]
        if not spec.next or not spec.no_response_after or silent < spec.no_response_after:
            break
        why.append(f"{silent} contacts without a response: {ORDER[level]} -> {spec.next}")
        silent -= spec.no_response_after
        level = ORDER.index(spec.next)
    return ORDER[level], why


def _attempt(account: Account, channel: str, caller_id: str | None) -> Attempt:
    own = [p for p in account.phones if p.role == "debtor" and not p.wrong_number]
    mobiles = [p for p in own if p.type == "mobile"]
    if channel == "letter":
        return Attempt(account, "letter")
    if channel == "sms":
        texts = mobiles or own
        # every text a campaign sends is machine-sent from a list (the TCPA's autodialer reading)
        return Attempt(account, "sms", texts[0].number if texts else None, autodialed=True)
    kind: Kind = "agent" if channel == "agent_call" else "ai_voice"
    return Attempt(account, "call", own[0].number if own else None, kind, caller_id, autodialed=True)


def _compliance_channel(channel: str) -> str:
    return {"sms": "sms", "letter": "letter"}.get(channel, "call")


def plan(
    profile: AccountProfile,
    history: Sequence[Touch],
    now: datetime,
    *,
    card: Card | None = None,
    ladder: Ladder | None = None,
    profiles: tuple[Profile, ...] | None = None,
    caller_id: str | None = "+14155550100",
) -> Plan:
    card = card or default_card()
    ladder = ladder or default_ladder()
    account = profile.compliance_account()
    tz = _zone(account)
    today = now.astimezone(tz).date()
    result = score(card, profile, today)
    variant = profile.variant or variant_of(profile.id, ladder)
    outcomes = _promises(profile, history, now, tz)
    stage, why = _stage(profile, ladder, result.tier, variant, history, outcomes, today)
    if stage in ("stopped", "hold"):
        return Plan(result, variant, stage, tuple(why))
    ledger_entries = [t.contact for t in history]
    pending = [o for o in outcomes if o.status == "pending"]
    if pending:
        due = min(o.promise.due for o in pending)
        reminder = StepSpec(channel="sms", template="promise_reminder_sms", tone="friendly", time="10:00")
        at = max(now, datetime.combine(due - timedelta(days=1), time(10, 0), tzinfo=tz))
        why.append(f"promise pending for {due.isoformat()}: the ladder waits")
        first = [(reminder, at, "reminder the day before the promised date")]
        steps = _schedule(first, profile, account, ledger_entries, now, caller_id, profiles)
        return Plan(result, variant, stage, tuple(why), tuple(steps))
    specs = list(ladder.stages[stage].steps)
    if profile.legal_step is None and any(s.legal for s in specs):
        specs = [s for s in specs if not s.legal]
        why.append("no legal step configured: no legal wording, firm contact only")
    specs, shift = _adapt(specs, ladder, history, stage, tz)
    why += shift
    days = profile.days_overdue(today) or 0
    wanted: list[tuple[StepSpec, datetime, str]] = []
    horizon = now + timedelta(days=ladder.horizon_days)
    for spec in specs:
        used = [t.contact.at for t in history if t.template == spec.template]
        for n in range(len(used), spec.max_attempts):
            earliest = now
            if used:
                earliest = max(earliest, max(used) + timedelta(days=spec.spacing_days))
            if days < spec.from_day:
                earliest = max(earliest, now + timedelta(days=spec.from_day - days))
            at = _at_time(earliest, spec.time, tz)
            if at > horizon:
                break
            wanted.append((spec, at, f"{stage} stage, {spec.tone}: use {n + 1} of {spec.max_attempts}"))
            used.append(at)
    wanted.sort(key=lambda w: w[1])
    steps = _schedule(wanted, profile, account, ledger_entries, now, caller_id, profiles)
    return Plan(result, variant, stage, tuple(why), tuple(s for s in steps if s.at <= horizon))


def _at_time(earliest: datetime, hhmm: str, tz: ZoneInfo) -> datetime:
    h, m = (int(x) for x in hhmm.split(":"))
    local = earliest.astimezone(tz)
    at = datetime.combine(local.date(), time(h, m), tzinfo=tz)
    return at if at >= earliest else datetime.combine(local.date() + timedelta(days=1), time(h, m), tzinfo=tz)


def _schedule(
    wanted: Sequence[tuple[StepSpec, datetime, str]],
    profile: AccountProfile,
    account: Account,
    history: list[Contact],
    now: datetime,
    caller_id: str | None,
    profiles: tuple[Profile, ...] | None,
) -> list[Step]:
    """Pass each wanted step through the gate in time order, counting the ones already planned."""
    flags = profile.flags()
    ledger = Ledger.of(history)
    out: list[Step] = []
    for spec, at, reason in wanted:
        attempt = _attempt(account, spec.channel, caller_id)
        verdict = gate.check(attempt, ledger, flags, at, profiles)
        if not verdict.allowed:
            if verdict.next_allowed_at is None:
                continue  # the gate never allows it with these facts (e.g. no consent for the call)
            moved = verdict.next_allowed_at
            reason = f"{reason}; moved by {', '.join(verdict.rules)} to the next lawful time"
            at = moved
        kind = attempt.kind if attempt.channel == "call" else None
        ledger = ledger.plus(Contact(at, attempt.channel, "outbound", "in_progress", attempt.phone, kind))
        out.append(Step(at, spec.channel, spec.template, reason))
    out.sort(key=lambda s: s.at)
    return out


def _adapt(
    specs: list[StepSpec], ladder: Ladder, history: Sequence[Touch], stage: str, tz: ZoneInfo
) -> tuple[list[StepSpec], list[str]]:
    """Channel mix and time band from this debtor's responses (Beta-Bernoulli with the ladder's priors)."""
    call_hits, call_n = _channel_stats(history, "call")
    sms_hits, sms_n = _channel_stats(history, "sms")
    call_p = _rate(ladder.priors["call"], call_hits, call_n)
    sms_p = _rate(ladder.priors["sms"], sms_hits, sms_n)
    why: list[str] = []
    out = list(specs)
    if call_n >= 3 and sms_n >= 1 and call_p < SHIFT_RATIO * sms_p:
        sms_template = "reminder_sms" if stage == "early" else "consequences_sms"
        replaced = [s for s in out if s.channel in ("ivr_call", "agent_call")]
        out = [s for s in out if s.channel not in ("ivr_call", "agent_call")]
        if replaced:
            first = replaced[0]
            out.append(
                StepSpec(
                    channel="sms",
                    template=sms_template,
                    tone=first.tone,
                    from_day=first.from_day,
                    spacing_days=max(2, first.spacing_days),
                    max_attempts=sum(s.max_attempts for s in replaced),
                    time="12:00",
                )
            )
            why.append(
                f"calls answered {call_hits}/{call_n} (p~{call_p:.2f}), SMS read or answered "
                f"{sms_hits}/{sms_n} (p~{sms_p:.2f}): SMS with the key consequences instead of calls"
            )
        return out, why
    bands = _best_band(history, ladder, tz)
    if bands is not None:
        band, p = bands
        hhmm = BANDS[band].strftime("%H:%M")
        out = [s.model_copy(update={"time": hhmm}) if s.channel.endswith("call") else s for s in out]
        why.append(f"calls answered best in the {band} (p~{p:.2f}): calls at {hhmm}")
    return out, why


def _best_band(history: Sequence[Touch], ladder: Ladder, tz: ZoneInfo) -> tuple[str, float] | None:
    stats: dict[str, list[int]] = {b: [0, 0] for b in BANDS}
    for t in history:
        c = t.contact
        if c.channel != "call" or c.direction != "outbound":
            continue
        hour = c.at.astimezone(tz).hour
        band = "morning" if hour < 12 else "afternoon" if hour < 17 else "evening"
        stats[band][1] += 1
        stats[band][0] += 1 if _responded(c) else 0
    if sum(n for _, n in stats.values()) < 4:
        return None
    rates = {b: _rate(ladder.priors["call"], h, n) for b, (h, n) in stats.items()}
    best = max(rates, key=lambda b: rates[b])
    if stats[best][0] == 0:
        return None
    return best, rates[best]

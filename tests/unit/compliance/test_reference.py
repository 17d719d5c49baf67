"""An independent, deliberately simple reference for the shipped compliance profiles, and property tests
that hold the gate to it.

The reference reads docs/compliance.md and the YAML profiles, and nothing of `dunline.compliance.rules`:
each rule is a plain loop over the history and a `zoneinfo` conversion per zone. It knows the numbers of
its own pool (their country and state) instead of asking the geocoder. It works on instants (UTC), so a
wall-clock representation of `t` cannot change its answer.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dunline.compliance.gate import check
from dunline.compliance.model import (
    Account,
    Attempt,
    Channel,
    Contact,
    Direction,
    Kind,
    Ledger,
    Phone,
    PhoneType,
    Result,
    Role,
)
from dunline.compliance.scenario import parse_scenario
from dunline.compliance.zones import phone_zones

# ------------------------------------------------------------------------------------------- reference

# The numbers the property tests draw from, with (country, US state) as a person would read them.
POOL: dict[str, tuple[str, str | None]] = {
    "+14155550123": ("US", "CA"),  # America/Los_Angeles
    "+14152530123": ("US", "CA"),
    "+12125550123": ("US", "NY"),  # America/New_York
    "+16175550123": ("US", "MA"),
    "+15085550123": ("US", "MA"),
    "+12065550123": ("US", "WA"),
    "+15095550123": ("US", "WA"),
    "+17025550123": ("US", "NV"),
    "+12155550123": ("US", "PA"),
    "+13125550123": ("US", "IL"),  # America/Chicago
    "+13032530123": ("US", "CO"),  # America/Denver
    "+16022530123": ("US", "AZ"),  # America/Phoenix (no DST)
    "+8613800138000": ("CN", None),
    "+8618612345678": ("CN", None),
    "+442079460123": ("GB", None),
    "+447400123456": ("GB", None),
    "+493012345678": ("DE", None),  # no profile, but a zone the debtor may be in
}
STATE_ZONES = {
    "CA": "America/Los_Angeles",
    "NY": "America/New_York",
    "MA": "America/New_York",
    "WA": "America/Los_Angeles",
    "NV": "America/Los_Angeles",
    "PA": "America/New_York",
    "IL": "America/Chicago",
}
COUNTRY_ZONES = {"CN": "Asia/Shanghai", "GB": "Europe/London", "DE": "Europe/Berlin", "FR": "Europe/Paris"}
NYC = {
    "new york",
    "new york city",
    "nyc",
    "manhattan",
    "brooklyn",
    "queens",
    "bronx",
    "the bronx",
    "staten island",
}
STATE_PROFILES = {"MA": "us-ma", "WA": "us-wa", "NV": "us-nv", "PA": "us-pa"}

HOURS_CHANNELS = ("call", "sms", "voicemail", "email")
AUTOMATED = ("prerecorded", "ai_voice")
CN_UNANSWERED = ("no_answer", "busy", "voicemail", "failed", "abandoned", "in_progress")
DAY = timedelta(days=1)


def ref_location(number: str) -> tuple[str | None, str | None]:
    if number in POOL:
        return POOL[number]
    num = phonenumbers.parse(number, None)
    return phonenumbers.region_code_for_number(num), None


def debtor_phones(account: Account) -> list[Phone]:
    return [p for p in account.phones if p.role == "debtor" and not p.wrong_number]


def ref_zones(account: Account) -> list[ZoneInfo]:
    names: list[str] = []
    if account.timezone:
        names.append(account.timezone)
    elif account.country == "US" and account.region in STATE_ZONES:
        names.append(STATE_ZONES[account.region])
    elif account.country in COUNTRY_ZONES:
        names.append(COUNTRY_ZONES[account.country])
    for p in debtor_phones(account):
        names.extend(phone_zones(p.number))
    out: list[ZoneInfo] = []
    for n in names:
        if n not in [z.key for z in out]:
            out.append(ZoneInfo(n))
    return out


def ref_profiles(account: Account) -> set[str]:
    places = [(account.country, account.region, account.city)]
    for p in debtor_phones(account):
        country, state = ref_location(p.number)
        places.append((country or "", state, None))
    found: set[str] = set()
    for country, region, city in places:
        if country == "US":
            found.add("us")
            if region in STATE_PROFILES:
                found.add(STATE_PROFILES[region])
            if region == "NY" and city is not None and city.strip().lower() in NYC:
                found.add("us-nyc")
        if country == "CN":
            found.add("cn")
        if country == "GB":
            found.add("uk")
    return found


def inside_everywhere(
    t: datetime, zones: Sequence[ZoneInfo], start: time, end: time, sunday: time | None = None
) -> bool:
    if not zones:
        return False
    for z in zones:
        local = t.astimezone(z)
        opens = sunday if (sunday is not None and local.weekday() == 6) else start
        if not (opens <= local.time() < end):
            return False
    return True


def local_midnight(day: date, z: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=z)


def ref_blocks(
    account: Account, history: Sequence[Contact], flags: frozenset[str], attempt: Attempt, t: datetime
) -> set[str]:
    """The rule ids of the shipped profiles that forbid `attempt` at instant `t` (empty: allowed)."""
    t = t.astimezone(UTC)
    profiles = ref_profiles(account)
    if not profiles:
        return {"no-profile"}
    zones = ref_zones(account)
    out: set[str] = set()
    ch, kind = attempt.channel, attempt.kind
    calling = ch in ("call", "voicemail")
    hours_apply = ch in HOURS_CHANNELS
    known = {p.number: p for p in account.phones}
    ap = known.get(attempt.phone) if attempt.phone is not None else None

    def attempt_type_in(*types: str) -> bool:  # a number not on the account is governed
        if ap is None:
            return attempt.phone is not None
        return ap.type in types

    def entry_type_in(c: Contact, *types: str) -> bool:  # an entry about an unknown number is counted
        p = known.get(c.phone) if c.phone is not None else None
        return p is None or p.type in types

    def within(c: Contact, span: timedelta) -> bool:
        return c.at.astimezone(UTC) > t - span

    def same_phone(c: Contact) -> bool:  # unknown number: counted (docs: the strict reading)
        return c.phone is None or c.phone == attempt.phone

    day_start = min((local_midnight(t.astimezone(z).date(), z) for z in zones), default=t)

    def today(c: Contact) -> bool:
        return c.at.astimezone(UTC) >= day_start

    # baseline
    for flag in ("cease", "attorney", "dispute"):
        if flag in flags:
            out.add(flag)
    if "hardship" in flags and calling and kind in AUTOMATED:
        out.add("hardship")
    if "sms_opt_out" in flags and ch == "sms":  # docs: an SMS opt-out stops texts only
        out.add("opt-out-sms")
    if ch in ("call", "sms", "voicemail") and ap is not None and ap.wrong_number:
        out.add("wrong-number")
    if calling:
        cid = attempt.caller_id
        ok = False
        if cid:
            try:
                ok = phonenumbers.is_valid_number(phonenumbers.parse(cid, None))
            except phonenumbers.NumberParseException:
                ok = False
        if not ok:
            out.add("caller-id")
    contact_ids = ["third-party"] + (["cn-contacts"] if "cn" in profiles else [])
    if ap is not None and ap.role == "contact":
        refused = ap.refused
        for c in history:
            if c.phone == ap.number and c.result == "refused":
                refused = True
        if refused:
            out.update(contact_ids)
        else:
            own = {p.number for p in debtor_phones(account)}
            talks = 0
            tries = 0
            for c in history:
                if not within(c, timedelta(days=7)) or not (c.phone is None or c.phone in own):
                    continue
                if c.result in ("conversation", "answered"):
                    talks += 1
                elif c.channel == "call" and c.direction == "outbound":
                    tries += 1
            if talks > 0 or tries < 6:
                out.update(contact_ids)

    if "us" in profiles:
        if hours_apply and not inside_everywhere(t, zones, time(8), time(21)):
            out.add("window")
        # docs: a call the debtor asked for at most 7 days ago (and not later than now) is not blocked
        # by freq-7in7 or lockout-7 (consent_days: 7)
        asked = attempt.asked_at
        asked_for = asked is not None and t - 7 * DAY <= asked.astimezone(UTC) <= t
        if calling:
            n = 0
            for c in history:
                if c.channel in ("call", "voicemail") and c.direction == "outbound" and within(c, 7 * DAY):
                    n += 1
            if n >= 7 and not asked_for:
                out.add("freq-7in7")
            for c in history:
                if c.channel in ("call", "voicemail") and c.result == "conversation" and not asked_for:
                    resume = max(local_midnight(c.at.astimezone(z).date() + 7 * DAY, z) for z in zones)
                    if t < resume:
                        out.add("lockout-7")
            if kind in AUTOMATED and attempt_type_in("mobile") and not (ap is not None and ap.consent):
                out.add("tcpa-consent")
            if attempt.autodialed and attempt_type_in("mobile") and not (ap is not None and ap.consent):
                out.add("tcpa-autodialer")
        texting = ch == "sms" and attempt.autodialed and attempt_type_in("mobile")
        if texting and not (ap is not None and ap.consent):  # docs: a text is a call under the TCPA
            out.add("tcpa-autodialer")
        if (
            calling
            and kind in AUTOMATED
            and attempt_type_in("landline")
            and not (ap is not None and ap.consent)
        ):
            n = 0
            for c in history:
                if (
                    c.channel in ("call", "voicemail")
                    and c.direction == "outbound"
                    and (c.kind is None or c.kind in AUTOMATED)
                    and same_phone(c)
                    and within(c, 30 * DAY)
                ):
                    n += 1
            if n >= 3:
                out.add("tcpa-landline")
    if "us-ma" in profiles and calling:
        if attempt_type_in("mobile", "landline"):
            n = sum(
                1
                for c in history
                if c.channel in ("call", "voicemail")
                and c.direction == "outbound"
                and entry_type_in(c, "mobile", "landline")
                and within(c, 7 * DAY)
            )
            if n >= 2:
                out.add("freq-ma")
        if attempt_type_in("work"):
            n = sum(
                1
                for c in history
                if c.channel in ("call", "voicemail")
                and c.direction == "outbound"
                and entry_type_in(c, "work")
                and within(c, 30 * DAY)
            )
            if n >= 2:
                out.add("freq-ma-work")
    if "us-wa" in profiles:
        if hours_apply and not inside_everywhere(t, zones, time(7, 30), time(21)):
            out.add("window-wa")
        if calling:
            n = sum(
                1
                for c in history
                if c.channel in ("call", "voicemail") and c.direction == "outbound" and within(c, 7 * DAY)
            )
            if n >= 3:
                out.add("freq-wa")
            if attempt_type_in("work"):
                n = sum(
                    1
                    for c in history
                    if c.channel in ("call", "voicemail")
                    and c.direction == "outbound"
                    and entry_type_in(c, "work")
                    and within(c, 7 * DAY)
                )
                if n >= 1:
                    out.add("freq-wa-work")
    if "us-nv" in profiles and hours_apply and not inside_everywhere(t, zones, time(9), time(20)):
        out.add("window-nv")
    if (
        "us-pa" in profiles
        and hours_apply
        and not inside_everywhere(t, zones, time(8), time(21), time(13, 30))
    ):
        out.add("window-pa")
    if "us-nyc" in profiles:
        n = sum(1 for c in history if c.direction == "outbound" and within(c, 7 * DAY))
        if n >= 3:
            out.add("freq-nyc")
    if "cn" in profiles:
        if hours_apply and not inside_everywhere(t, zones, time(8), time(22)):
            out.add("cn-hours")
        if calling:
            n = sum(
                1
                for c in history
                if c.channel in ("call", "voicemail") and c.result == "conversation" and today(c)
            )
            if n >= 3:
                out.add("cn-conversations")
            n = sum(
                1
                for c in history
                if c.channel in ("call", "voicemail")
                and c.direction == "outbound"
                and c.result in CN_UNANSWERED
                and same_phone(c)
                and today(c)
            )
            if n >= 6:
                out.add("cn-attempts")
    if "uk" in profiles:
        if hours_apply and not inside_everywhere(t, zones, time(8), time(21)):
            out.add("uk-hours")
        if calling:
            for c in history:
                if (
                    c.channel == "call"
                    and c.result == "abandoned"
                    and same_phone(c)
                    and c.at.astimezone(UTC) + timedelta(hours=72) > t
                ):
                    out.add("uk-abandon")
    return out


# ------------------------------------------------------------------- the reference against the fixtures

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "compliance"
PLAIN = [
    p
    for p in sorted(FIXTURES.glob("*.json"))
    if not json.loads(p.read_text("utf-8"))["account"]["debtor_windows"]
]


@pytest.mark.parametrize("path", PLAIN, ids=[p.stem for p in PLAIN])
def test_reference_agrees_with_the_hand_computed_fixtures(path: Path) -> None:
    """The reference and the fixtures are two separate readings of the rules: they must agree."""
    doc = json.loads(path.read_text("utf-8"))
    expect = doc.pop("expect")
    attempt, ledger, flags, now = parse_scenario(doc)
    got = ref_blocks(attempt.account, ledger.contacts, flags, attempt, now)
    assert got == set(expect["rules"])
    if expect["next_allowed_at"] is not None:
        nxt = datetime.fromisoformat(expect["next_allowed_at"]).astimezone(UTC)
        assert ref_blocks(attempt.account, ledger.contacts, flags, attempt, nxt) == set()
        assert ref_blocks(attempt.account, ledger.contacts, flags, attempt, nxt - timedelta(seconds=1))


# ------------------------------------------------------------------------------------ property tests

US_NUMBERS = [n for n, (c, _) in POOL.items() if c == "US"]
CN_NUMBERS = [n for n, (c, _) in POOL.items() if c == "CN"]
GB_NUMBERS = [n for n, (c, _) in POOL.items() if c == "GB"]
ALL_NUMBERS = list(POOL)
VALID_CALLER_ID = {"US": "+14155550100", "CN": "+861012345678", "GB": "+442079460000"}
RESULTS: list[Result] = [
    "no_answer",
    "busy",
    "voicemail",
    "conversation",
    "answered",
    "abandoned",
    "delivered",
    "failed",
    "in_progress",
]  # "refused" is left out: the gate does not read it (see the contact-refused-in-history fixture)
# Around the DST changes: US 2026-03-08 07:00Z and 2026-11-01 06:00Z, London 2026-03-29 and 2026-10-25 01:00Z.
ANCHORS = {
    "US": [datetime(2026, 3, 8, 7, tzinfo=UTC), datetime(2026, 11, 1, 6, tzinfo=UTC)],
    "GB": [datetime(2026, 3, 29, 1, tzinfo=UTC), datetime(2026, 10, 25, 1, tzinfo=UTC)],
    "CN": [
        datetime(2026, 3, 8, 7, tzinfo=UTC),
        datetime(2026, 11, 1, 6, tzinfo=UTC),
        datetime(2026, 3, 29, 1, tzinfo=UTC),
    ],
}
BOUNDARIES = [0, 72 * 3600, 7 * 86400, 30 * 86400]
HISTORY_CHANNELS: list[Channel] = ["call", "call", "call", "call", "voicemail", "sms", "letter", "email"]
ATTEMPT_CHANNELS: list[Channel] = ["call", "call", "call", "voicemail", "sms", "letter", "email"]
DIRECTIONS: list[Direction] = ["outbound", "outbound", "outbound", "inbound"]
ENTRY_KINDS: list[Kind | None] = [None, "agent", "prerecorded", "ai_voice"]
ATTEMPT_KINDS: list[Kind] = ["agent", "prerecorded", "ai_voice"]


@dataclass(frozen=True)
class Case:
    account: Account
    history: tuple[Contact, ...]
    flags: frozenset[str]
    attempt: Attempt
    now: datetime


@st.composite
def phones(draw: st.DrawFn, country: str) -> tuple[Phone, ...]:
    home = {"US": US_NUMBERS, "CN": CN_NUMBERS, "GB": GB_NUMBERS}[country]
    first = draw(st.sampled_from(home))
    others = draw(st.lists(st.sampled_from(ALL_NUMBERS), max_size=2, unique=True))
    numbers = list(dict.fromkeys([first, *others]))
    out = []
    for i, n in enumerate(numbers):
        roles: list[Role] = ["debtor", "debtor", "contact"]
        types: list[PhoneType] = ["mobile", "mobile", "landline", "work"]
        role: Role = "debtor" if i == 0 else draw(st.sampled_from(roles))
        out.append(
            Phone(
                n,
                draw(st.sampled_from(types)),
                draw(st.booleans()),
                role,
                refused=role == "contact" and draw(st.integers(0, 4)) == 0,
                wrong_number=role == "debtor" and i > 0 and draw(st.integers(0, 5)) == 0,
            )
        )
    if any(p.role == "contact" for p in out):  # one reading of "the debtor's numbers" only (see fixtures)
        out = [Phone(p.number, p.type, p.consent, p.role, p.refused, False) for p in out]
    return tuple(out)


@st.composite
def accounts(draw: st.DrawFn) -> Account:
    country = draw(st.sampled_from(["US", "US", "US", "CN", "GB"]))
    region = city = None
    if country == "US":
        region = draw(st.sampled_from(["CA", "NY", "MA", "WA", "NV", "PA", "IL"]))
        if region == "NY":
            city = draw(st.sampled_from([None, "New York", "Brooklyn", "Buffalo"]))
    return Account("A-P", country, region, city, None, draw(phones(country)))


@st.composite
def cases(draw: st.DrawFn) -> Case:
    account = draw(accounts())
    anchor = draw(st.sampled_from(ANCHORS[account.country]))
    now = anchor + timedelta(seconds=draw(st.integers(-3 * 86400, 3 * 86400)))
    if draw(st.booleans()):
        now = now.replace(second=0)
    numbers = [p.number for p in account.phones]
    history = []
    span = draw(st.sampled_from([86400, 3 * 86400, 40 * 86400]))  # bursts fill the daily caps
    for _ in range(draw(st.integers(0, 40))):
        ago = draw(
            st.one_of(
                st.integers(0, span),
                st.builds(
                    lambda b, d: max(b + d, 0), st.sampled_from(BOUNDARIES), st.sampled_from([-60, -1, 0, 1])
                ),
            )
        )
        channel: Channel = draw(st.sampled_from(HISTORY_CHANNELS))
        phone = None
        if channel in ("call", "voicemail", "sms"):
            phone = (
                draw(st.sampled_from(numbers))
                if draw(st.integers(0, 9))
                else draw(st.sampled_from(ALL_NUMBERS))
            )
        history.append(
            Contact(
                now - timedelta(seconds=ago),
                channel,
                draw(st.sampled_from(DIRECTIONS)),
                draw(st.sampled_from(RESULTS)),
                phone,
                draw(st.sampled_from(ENTRY_KINDS)),
            )
        )
    flags = draw(
        st.sampled_from(
            [()] * 12 + [("cease",), ("attorney",), ("dispute",), ("hardship",), ("sms_opt_out",)]
        )
    )
    channel = draw(st.sampled_from(ATTEMPT_CHANNELS))
    phone = None
    if channel in ("call", "voicemail", "sms"):
        phone = (
            draw(st.sampled_from(numbers)) if draw(st.integers(0, 9)) else draw(st.sampled_from(ALL_NUMBERS))
        )
    caller_id = draw(st.sampled_from([VALID_CALLER_ID[account.country]] * 8 + [None, "+15555555555"]))
    kind = draw(st.sampled_from(ATTEMPT_KINDS))
    asked_at = None
    if draw(st.integers(0, 3)) == 0:  # sometimes a callback the debtor asked for, up to 9 days ago
        asked_at = now - timedelta(seconds=draw(st.integers(-3600, 9 * 86400)))
    attempt = Attempt(account, channel, phone, kind, caller_id, draw(st.booleans()), asked_at)
    zones = ref_zones(account)
    as_local = draw(st.booleans())  # the same instant as a debtor's local wall clock
    if zones and as_local:
        local: ZoneInfo = draw(st.sampled_from(zones))
        now = now.astimezone(local)
    return Case(account, tuple(history), frozenset(flags), attempt, now)


def _describe(case: Case) -> str:
    return (
        f"now={case.now.isoformat()} account={case.account} flags={sorted(case.flags)} "
        f"attempt=({case.attempt.channel}, {case.attempt.phone}, {case.attempt.kind}, "
        f"{case.attempt.caller_id}) "
        f"history={len(case.history)}"
    )


@settings(max_examples=300, deadline=None)
@given(cases())
def test_gate_matches_the_reference(case: Case) -> None:
    ledger = Ledger.of(case.history)
    verdict = check(case.attempt, ledger, case.flags, case.now)
    forbidden = ref_blocks(case.account, case.history, case.flags, case.attempt, case.now)
    # (a) the gate never allows what the reference forbids
    assert not (verdict.allowed and forbidden), (forbidden, _describe(case))
    # and, every shipped rule being covered by the reference, they name the same rules
    assert set(verdict.rules) == forbidden, (verdict.rules, forbidden, verdict.reasons, _describe(case))
    nxt = verdict.next_allowed_at
    if verdict.allowed or nxt is None:
        return
    nxt_utc = nxt.astimezone(UTC)
    # (c) next_allowed_at is in the future
    assert nxt_utc > case.now.astimezone(UTC), (nxt, _describe(case))
    # (b) the gate allows there (as returned, and as the same instant in UTC), and so does the reference
    at_next = check(case.attempt, ledger, case.flags, nxt)
    assert at_next.allowed, (nxt, at_next.reasons, _describe(case))
    assert check(case.attempt, ledger, case.flags, nxt_utc).allowed, (nxt, _describe(case))
    assert ref_blocks(case.account, case.history, case.flags, case.attempt, nxt_utc) == set(), (
        nxt,
        _describe(case),
    )
    # and it is the earliest such instant: one second before it, the attempt is still blocked
    before = nxt_utc - timedelta(seconds=1)
    if before > case.now:
        assert not check(case.attempt, ledger, case.flags, before).allowed, (nxt, _describe(case))
        assert ref_blocks(case.account, case.history, case.flags, case.attempt, before), (
            nxt,
            _describe(case),
        )


@settings(max_examples=300, deadline=None)
@given(cases())
def test_verdict_does_not_depend_on_how_now_is_written(case: Case) -> None:
    """The same instant in UTC, with a fixed offset or in a debtor's zone gives the same verdict."""
    ledger = Ledger.of(case.history)
    forms = [case.now.astimezone(UTC), case.now.astimezone(ZoneInfo("Asia/Tokyo"))]
    forms += [case.now.astimezone(z) for z in ref_zones(case.account)]
    verdicts = [check(case.attempt, ledger, case.flags, t) for t in forms]
    first = verdicts[0]
    for t, v in zip(forms, verdicts, strict=True):
        assert v.allowed == first.allowed and set(v.rules) == set(first.rules), (
            t.isoformat(),
            _describe(case),
        )
        if first.next_allowed_at is None:
            assert v.next_allowed_at is None
        else:
            assert v.next_allowed_at is not None
            assert v.next_allowed_at.astimezone(UTC) == first.next_allowed_at.astimezone(UTC)

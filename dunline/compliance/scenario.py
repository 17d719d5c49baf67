"""The scenario document of `dunline compliance check SCENARIO.json` (docs/compliance.md).

Parsed strictly: an unknown field or a bad value is an error naming its path. Times must carry an
offset; phone numbers must be valid E.164.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import phonenumbers
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from dunline.compliance.model import (
    WEEKDAYS,
    Account,
    Attempt,
    Channel,
    Contact,
    Direction,
    InconvenientWindow,
    Kind,
    Ledger,
    Phone,
    PhoneType,
    Result,
    Role,
)
from dunline.compliance.profiles import parse_clock
from dunline.config.errors import describe


class ScenarioError(ValueError):
    """A scenario that cannot be judged; the message names each bad field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _e164(value: str) -> str:
    try:
        num = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"{value!r} is not an E.164 number: {exc}") from None
    if not phonenumbers.is_possible_number(num):
        raise ValueError(f"{value!r} is not a possible phone number")
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


class PhoneIn(_Strict):
    number: str
    type: PhoneType = "mobile"
    consent: bool = False
    role: Role = "debtor"
    refused: bool = False
    wrong_number: bool = False

    _num = field_validator("number")(_e164)


class WindowIn(_Strict):
    start: str
    end: str
    days: list[str] = []
    channels: list[Channel] = []

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, v: str) -> str:
        parse_clock(v)
        return v

    @field_validator("days")
    @classmethod
    def _days(cls, v: list[str]) -> list[str]:
        bad = [d for d in v if d not in WEEKDAYS]
        if bad:
            raise ValueError(f"unknown weekday(s) {bad}; use {', '.join(WEEKDAYS)}")
        return v


class DebtorIn(_Strict):
    """Where the debtor is and how to reach them (shared with the strategies' account document)."""

    country: str = Field(pattern=r"^[A-Z]{2}$")
    region: str | None = None
    city: str | None = None
    address: str | None = Field(default=None, min_length=3, max_length=200)  # street line (letters)
    timezone: str | None = None
    phones: list[PhoneIn] = []
    flags: list[str] = []
    debtor_windows: list[WindowIn] = []

    @field_validator("country")
    @classmethod
    def _country(cls, v: str) -> str:
        from dunline.compliance.zones import countries

        if v not in countries():
            raise ValueError(f"{v!r} is not an ISO 3166-1 alpha-2 country code")
        return v

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str | None) -> str | None:
        from dunline.compliance.zones import zone

        if v is not None and zone(v) is None:
            raise ValueError(f"{v!r} is not an IANA time zone")
        return v


class AccountIn(DebtorIn):
    id: str = Field(min_length=1)


class ContactIn(_Strict):
    at: AwareDatetime
    channel: Channel
    direction: Direction
    result: Result
    phone: str | None = None
    kind: Kind | None = None

    @field_validator("phone")
    @classmethod
    def _num(cls, v: str | None) -> str | None:
        return None if v is None else _e164(v)


class AttemptIn(_Strict):
    channel: Channel
    phone: str | None = None
    kind: Kind = "agent"
    caller_id: str | None = None
    autodialed: bool = False
    asked_at: AwareDatetime | None = None  # when the debtor asked for this contact (a callback)

    @field_validator("phone")
    @classmethod
    def _num(cls, v: str | None) -> str | None:
        return None if v is None else _e164(v)


class ScenarioIn(_Strict):
    now: AwareDatetime
    account: AccountIn
    history: list[ContactIn] = []
    attempt: AttemptIn


def _window(w: WindowIn) -> InconvenientWindow:
    return InconvenientWindow(
        parse_clock(w.start),
        parse_clock(w.end),
        frozenset(WEEKDAYS.index(d) for d in w.days),
        frozenset(w.channels),
    )


def parse_scenario(raw: Any) -> tuple[Attempt, Ledger, frozenset[str], datetime]:
    if not isinstance(raw, Mapping):
        raise ScenarioError("a scenario is a JSON object with now, account, history and attempt")
    try:
        s = ScenarioIn.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(describe(exc)) from None
    a = s.account
    account = Account(
        id=a.id,
        country=a.country,
        region=a.region.upper() if a.region else None,
        city=a.city,
        timezone=a.timezone,
        phones=tuple(Phone(p.number, p.type, p.consent, p.role, p.refused, p.wrong_number) for p in a.phones),
        debtor_windows=tuple(_window(w) for w in a.debtor_windows),
    )
    t = s.attempt
    attempt = Attempt(account, t.channel, t.phone, t.kind, t.caller_id, t.autodialed, t.asked_at)
    ledger = Ledger.of(Contact(h.at, h.channel, h.direction, h.result, h.phone, h.kind) for h in s.history)
    return attempt, ledger, frozenset(a.flags), s.now

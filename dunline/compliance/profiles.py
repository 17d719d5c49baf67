"""Jurisdiction profiles: the rules of contact as data (YAML), validated once at load.

A profile names where it applies (`applies`: country, optional regions, optional `nyc`) and lists rules.
Each rule has an id (what a blocked verdict names), a `type` the gate knows how to evaluate, its
parameters, and its source. The packaged profiles live in `config/defaults/compliance/profiles/`; a
deployment may load its own directory instead. See docs/compliance.md for every rule type.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dunline.compliance.model import WEEKDAYS, Channel, Direction, Kind, PhoneType, Result, Role
from dunline.config.errors import describe
from dunline.config.packaged import default_path


class ProfileError(ValueError):
    """A profile file that cannot be used; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@functools.cache
def parse_clock(value: str) -> time:
    """'08:00' -> time(8, 0); '24:00' means the end of the day."""
    m = re.fullmatch(r"([01]\d|2[0-4]):([0-5]\d)", value)
    if not m or (m.group(1) == "24" and m.group(2) != "00"):
        raise ValueError(f"{value!r} is not a time of day HH:MM")
    return time.max if m.group(1) == "24" else time(int(m.group(1)), int(m.group(2)))


class Match(_Strict):
    """Which attempts a rule governs (`applies_to`) or which history entries it counts (`counts`).

    A field left out matches everything. A history entry whose kind or phone is unknown is counted.
    """

    channels: frozenset[Channel] | None = None
    direction: Direction | None = None
    kinds: frozenset[Kind] | None = None
    phone_types: frozenset[PhoneType] | None = None
    roles: frozenset[Role] | None = None
    results: frozenset[Result] | None = None
    consent: bool | None = None
    autodialed: bool | None = None  # attempts only: placed by the dialer rather than by a person
    same_phone: bool = False  # count only entries about the number being attempted


class DayHours(_Strict):
    start: str
    end: str

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, v: str) -> str:
        parse_clock(v)
        return v


class _Rule(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str = ""
    source: str = ""
    enabled: bool = True
    applies_to: Match = Match()


class HoursRule(_Rule):
    """Contact only between `start` and `end` local time at every known location of the debtor."""

    type: Literal["hours"]
    start: str
    end: str
    days: dict[str, DayHours | Literal["closed"]] = {}

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, v: str) -> str:
        parse_clock(v)
        return v

    @field_validator("days")
    @classmethod
    def _days(cls, v: dict[str, Any]) -> dict[str, Any]:
        bad = set(v) - set(WEEKDAYS)
        if bad:
            raise ValueError(f"unknown weekday(s) {sorted(bad)}; use {', '.join(WEEKDAYS)}")
        return v

    def bounds(self, weekday: int) -> tuple[time, time] | None:
        day = self.days.get(WEEKDAYS[weekday])
        if day == "closed":
            return None
        if isinstance(day, DayHours):
            return parse_clock(day.start), parse_clock(day.end)
        return parse_clock(self.start), parse_clock(self.end)


class ConsumerWindowsRule(_Rule):
    """The times and channels the debtor said are inconvenient (the account's `debtor_windows`)."""

    type: Literal["consumer_windows"]


class _ConsentWaivable(_Rule):
    consent_days: int | None = Field(
        default=None,
        ge=1,
        le=30,
        description=(
            "a contact the debtor asked for directly (a callback booked at their request) within this many"
            " days before it is not blocked by the rule"
        ),
    )


class CapRule(_ConsentWaivable):
    """At most `limit` counted entries in the window, so the (limit+1)-th is blocked.

    `window`: `7d`, `30d`, `72h` (rolling: the entries of the last 7x24 hours) or `day` (the calendar
    day in the debtor's local time; with several zones, the earliest midnight, so more is counted).
    """

    type: Literal["cap"]
    limit: int = Field(ge=0)
    window: str = Field(pattern=r"^([1-9]\d{0,3}[dh]|day)$")
    counts: Match = Match()

    def seconds(self) -> float | None:
        if self.window == "day":
            return None
        n = int(self.window[:-1])
        return n * (86400 if self.window.endswith("d") else 3600)


class CooldownRule(_ConsentWaivable):
    """No contact for a while after a counted entry: `hours` (rolling) or `calendar_days`
    (the day of the entry is day 1 in local time; contact may resume at the next local midnight)."""

    type: Literal["cooldown"]
    after: Match
    hours: int | None = Field(default=None, ge=1)
    calendar_days: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one(self) -> CooldownRule:
        if (self.hours is None) == (self.calendar_days is None):
            raise ValueError("a cooldown needs exactly one of `hours` or `calendar_days`")
        return self


class HoldRule(_Rule):
    """An account flag (cease, attorney, dispute, hardship) stops the contacts in `applies_to`."""

    type: Literal["hold"]
    flag: str


class ConsentRule(_Rule):
    """The number must carry prior express consent for the attempts in `applies_to`."""

    type: Literal["consent"]


class CallerIdRule(_Rule):
    """Calls go out only with a valid, returnable caller ID."""

    type: Literal["caller_id"]


class WrongNumberRule(_Rule):
    """A number marked as not the debtor's is not contacted."""

    type: Literal["wrong_number"]


class ContactPartyRule(_Rule):
    """People other than the debtor only when the debtor is unreachable; never one who refused.

    Unreachable: no conversation with the debtor in the last `days` days and at least `attempts`
    outbound calls to the debtor's own numbers in that time, none answered.
    """

    type: Literal["contact_party"]
    attempts: int = Field(ge=1)
    days: int = Field(ge=1)


Rule = Annotated[
    HoursRule
    | ConsumerWindowsRule
    | CapRule
    | CooldownRule
    | HoldRule
    | ConsentRule
    | CallerIdRule
    | WrongNumberRule
    | ContactPartyRule,
    Field(discriminator="type"),
]


class Where(_Strict):
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")  # None: everywhere
    regions: frozenset[str] | None = None
    nyc: bool = False


class Profile(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str
    applies: list[Where]
    jurisdiction: bool = True  # false for the baseline every account gets
    recording_notice: bool = False
    # what an answering machine gets: a limited-content message (US Reg F 1006.2(j): the debtor's name,
    # a neutral business name, a callback number, no word about a debt) or a hang-up; None: no opinion
    voicemail: Literal["limited_content", "hang_up"] | None = None
    retention_days: int | None = Field(default=None, ge=1)
    rules: list[Rule] = []

    @model_validator(mode="after")
    def _unique_ids(self) -> Profile:
        seen: set[str] = set()
        for r in self.rules:
            if r.id in seen:
                raise ValueError(f"rule id {r.id!r} appears twice")
            seen.add(r.id)
        return self

    def covers(self, country: str, region: str | None, city: str | None) -> bool:
        from dunline.compliance.zones import is_nyc

        for w in self.applies:
            if w.country is not None and w.country != country:
                continue
            if w.regions is not None and (region is None or region not in w.regions):
                continue
            if w.nyc and not is_nyc(city):
                continue
            return True
        return False


def parse_profile(raw: Mapping[str, Any], source: str) -> Profile:
    try:
        return Profile.model_validate(raw)
    except ValidationError as exc:
        raise ProfileError(f"{source}: {describe(exc)}") from None


def parse_profiles(texts: Iterable[tuple[str, str]]) -> tuple[Profile, ...]:
    out: list[Profile] = []
    for source, text in texts:
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ProfileError(f"{source}: not YAML: {exc}") from None
        if not isinstance(raw, Mapping):
            raise ProfileError(f"{source}: a profile is a mapping with id, title, applies, rules")
        out.append(parse_profile(raw, source))
    ids = [p.id for p in out]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ProfileError(f"profile id(s) defined twice: {dupes}")
    if not any(not p.jurisdiction for p in out):
        raise ProfileError("no baseline profile (jurisdiction: false) among the profiles")
    return tuple(out)


def load_dir(path: Path) -> tuple[Profile, ...]:
    files = sorted(path.glob("*.yaml"))
    if not files:
        raise ProfileError(f"{path}: no *.yaml profiles")
    return parse_profiles((str(f), f.read_text("utf-8")) for f in files)


@functools.cache
def default_profiles() -> tuple[Profile, ...]:
    folder = default_path("compliance/profiles")
    texts = sorted(
        (f"profiles/{f.name}", f.read_text("utf-8")) for f in folder.iterdir() if f.name.endswith(".yaml")
    )
    return parse_profiles(texts)


def voicemail_policy(governing: Iterable[str], profiles: Iterable[Profile] | None = None) -> str:
    """What an answering machine gets on a call the governing profiles (ids, as in a Verdict) cover:
    `limited_content` only when some profile allows it and none says `hang_up` (the strictest wins);
    a hang-up when no profile has an opinion."""
    by_id = {p.id: p for p in (default_profiles() if profiles is None else profiles)}
    said = {by_id[g].voicemail for g in governing if g in by_id}
    return "limited_content" if "limited_content" in said and "hang_up" not in said else "hang_up"


def summary(profiles: tuple[Profile, ...]) -> list[dict[str, Any]]:
    """Each profile, where it applies and its enabled rules with their sources (for people to read)."""
    return [
        {
            "id": p.id,
            "title": p.title,
            "applies": [w.model_dump(exclude_defaults=True, mode="json") for w in p.applies],
            "recording_notice": p.recording_notice,
            "retention_days": p.retention_days,
            "rules": [{"id": r.id, "type": r.type, "source": r.source} for r in p.rules if r.enabled],
        }
        for p in profiles
    ]

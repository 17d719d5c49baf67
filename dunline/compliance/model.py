"""The values the compliance gate reads and returns (pure, immutable).

An `Attempt` is one proposed contact (a call, SMS, letter, voicemail or email) to one account; the
`Ledger` is that account's contact history, sorted by time; `flags` are the account's holds (cease,
attorney, dispute, hardship, ...). `check()` in `gate.py` turns them into a `Verdict`.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Literal

Channel = Literal["call", "sms", "letter", "voicemail", "email"]
Direction = Literal["outbound", "inbound"]
Kind = Literal["agent", "prerecorded", "ai_voice"]
PhoneType = Literal["mobile", "landline", "work"]
Role = Literal["debtor", "contact"]
Result = Literal[
    "no_answer",
    "busy",
    "voicemail",
    "conversation",
    "answered",  # a person answered but the right party was not reached (no conversation with the debtor)
    "abandoned",
    "delivered",
    "failed",
    "in_progress",  # placed, not finished yet: it counts as placed
    "refused",  # a contact person refused to help (stops contacting that person)
    "read",  # an SMS or e-mail the debtor opened (read receipt)
    "replied",  # an SMS or e-mail the debtor answered
]

CHANNELS: tuple[Channel, ...] = ("call", "sms", "letter", "voicemail", "email")
KINDS: tuple[Kind, ...] = ("agent", "prerecorded", "ai_voice")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class Phone:
    number: str  # E.164
    type: PhoneType = "mobile"
    consent: bool = False  # prior express consent for prerecorded / artificial-voice calls
    role: Role = "debtor"  # "contact": a third party the debtor named (family, reference)
    refused: bool = False  # a contact who refused: never again
    wrong_number: bool = False  # the number turned out not to be the debtor's


@dataclass(frozen=True, slots=True)
class InconvenientWindow:
    """A time the debtor said is inconvenient ("not while I'm at work, 9 to 5"), in their local time.

    `end` before `start` wraps past midnight; `days` empty = every day; `channels` empty = every channel.
    """

    start: time
    end: time
    days: frozenset[int] = frozenset()  # 0 = Monday (the weekday the window starts on)
    channels: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    country: str  # ISO 3166-1 alpha-2
    region: str | None = None  # state / province code ("CA", "MA")
    city: str | None = None
    timezone: str | None = None  # IANA zone of the address, when known
    phones: tuple[Phone, ...] = ()
    debtor_windows: tuple[InconvenientWindow, ...] = ()

    def phone(self, number: str | None) -> Phone | None:
        for p in self.phones:
            if p.number == number:
                return p
        return None


@dataclass(frozen=True, slots=True)
class Contact:
    """One entry of the contact history."""

    at: datetime  # aware
    channel: Channel
    direction: Direction
    result: Result
    phone: str | None = None
    kind: Kind | None = None  # None: unknown (counted by every kind-specific rule, conservatively)


@dataclass(frozen=True, slots=True)
class Attempt:
    account: Account
    channel: Channel
    phone: str | None = None  # the number called or texted (calls, SMS, voicemail)
    kind: Kind = "agent"
    caller_id: str | None = None
    autodialed: bool = False  # placed by a machine from a list (predictive/progressive/IVR campaigns)
    # when the debtor asked, directly, for this contact (a callback booked at their request); rules
    # with `consent_days` do not block it within that many days (Reg F 1006.14(b)(3)(i))
    asked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    rules: tuple[str, ...] = ()  # the rule ids that blocked
    reasons: tuple[str, ...] = ()
    next_allowed_at: datetime | None = None  # earliest time the same attempt would pass; None: never
    profiles: tuple[str, ...] = ()  # the jurisdiction profiles that governed the decision
    waived: tuple[str, ...] = ()  # rules that would have blocked but the debtor asked for the contact

    def as_json(self) -> dict[str, object]:
        return {
            "allowed": self.allowed,
            "rules": list(self.rules),
            "reasons": list(self.reasons),
            "next_allowed_at": None if self.next_allowed_at is None else self.next_allowed_at.isoformat(),
            "profiles": list(self.profiles),
            "waived": list(self.waived),
        }


@dataclass(frozen=True)
class Ledger:
    """An account's contacts sorted by time, with an index for "everything since t" in O(log n)."""

    contacts: tuple[Contact, ...]
    _epochs: tuple[float, ...] = field(repr=False, compare=False)

    @classmethod
    def of(cls, contacts: Iterable[Contact]) -> Ledger:
        ordered = tuple(sorted(contacts, key=lambda c: c.at))
        return cls(ordered, tuple(c.at.timestamp() for c in ordered))

    def plus(self, contact: Contact) -> Ledger:
        """This ledger with one more entry (cheap when it is the latest, as planned contacts are)."""
        ts = contact.at.timestamp()
        if not self._epochs or ts >= self._epochs[-1]:
            return Ledger((*self.contacts, contact), (*self._epochs, ts))
        return Ledger.of((*self.contacts, contact))

    def after(self, t: float) -> Sequence[Contact]:
        """Contacts strictly after epoch second `t` (a rolling window (t, now])."""
        return self.contacts[bisect.bisect_right(self._epochs, t) :]

    def since(self, t: float) -> Sequence[Contact]:
        """Contacts at or after epoch second `t` (a calendar day [midnight, now])."""
        return self.contacts[bisect.bisect_left(self._epochs, t) :]

    def __len__(self) -> int:
        return len(self.contacts)


EMPTY_LEDGER = Ledger.of(())


def mask_number(number: str | None) -> str:
    """'+14155550123' -> '+1******0123' (reasons and logs never carry a full number)."""
    if not number:
        return "-"
    return f"{number[:2]}{'*' * max(len(number) - 6, 0)}{number[-4:]}" if len(number) > 6 else "***"

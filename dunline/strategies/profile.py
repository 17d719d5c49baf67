"""The debtor's whole picture, as the strategies see it (pure, validated, every field optional).

The JSON form (`dunline plan ACCOUNT.json`, docs/strategies.md) is parsed strictly: an unknown field
or a bad value is an error naming its path. A field left out means "unknown", and each consumer says
what unknown means (the scorecard gives 0 points; the planner assumes nothing it would need to be
lawful: no consent, no legal step).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from dunline.compliance.model import Account, Phone
from dunline.compliance.scenario import DebtorIn, PhoneIn
from dunline.config.errors import describe


class ProfileError(ValueError):
    """An account document that cannot be used; the message names each bad field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoredIdentity(_Strict):
    """The identity facts the portfolio's columns do not hold (kept in `accounts.profile`)."""

    age: int | None = Field(default=None, ge=14, le=120)
    occupation: str | None = Field(default=None, max_length=100)


class Identity(StoredIdentity):
    name: str | None = None
    national_id: str | None = None  # shown masked only (`masked_id`)

    @property
    def masked_id(self) -> str | None:
        if not self.national_id:
            return None
        return "*" * max(len(self.national_id) - 4, 0) + self.national_id[-4:]


class StoredLoan(_Strict):
    """The loan facts the portfolio's columns do not hold (kept in `accounts.profile`)."""

    paid: Decimal = Field(default=Decimal("0"), ge=0)
    interest_rate: Decimal | None = Field(default=None, ge=0, le=100)  # percent a year
    late_fee: Decimal | None = Field(default=None, ge=0)


class Loan(StoredLoan):
    principal: Decimal | None = Field(default=None, ge=0)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    start: date | None = None
    due_date: date | None = None
    balance: Decimal | None = Field(default=None, ge=0)


class Behaviour(_Strict):
    overdue_count: int | None = Field(default=None, ge=0)  # earlier overdue episodes
    days_overdue: int | None = Field(default=None, ge=0)  # now; derived from due_date when absent
    max_days_overdue: int | None = Field(default=None, ge=0)
    on_time_ratio: float | None = Field(default=None, ge=0, le=1)


class Credit(_Strict):
    score: int | None = Field(default=None, ge=0, le=1000)
    trend: Literal["rising", "flat", "falling"] | None = None


class Personal(_Strict):
    income_stability: Literal["stable", "variable", "unstable"] | None = None
    spending: Literal["regular", "irregular", "large_irregular"] | None = None


class PaymentIn(_Strict):
    at: AwareDatetime
    amount: Decimal = Field(gt=0)


class LegalStep(_Strict):
    action: str = Field(min_length=3)  # e.g. "file a claim in small claims court"
    after_days: int = Field(default=10, ge=1)  # deadline given in the warning letter


class Facts(_Strict):
    """What the strategies know beyond the portfolio's columns, stored as `accounts.profile` (JSON).

    The sections and names are those of the account document, so a stored account reads back as the
    document it was imported from.
    """

    identity: StoredIdentity = StoredIdentity()
    loan: StoredLoan = StoredLoan()
    behaviour: Behaviour = Behaviour()
    credit: Credit = Credit()
    personal: Personal = Personal()
    legal_step: LegalStep | None = None
    variant: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,40}$")


class AccountProfile(_Strict):
    id: str = Field(min_length=1)
    debtor_id: str | None = None  # the lender's id of the debtor; the account id when absent
    language: Literal["en", "zh"] = "en"
    contact: DebtorIn
    identity: Identity = Identity()
    loan: Loan = Loan()
    behaviour: Behaviour = Behaviour()
    credit: Credit = Credit()
    personal: Personal = Personal()
    payments: list[PaymentIn] = []
    legal_step: LegalStep | None = None  # only with one configured may late-stage legal wording be used
    variant: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,40}$")  # assignment override

    def facts(self) -> Facts:
        """The part of the document stored as `accounts.profile`."""
        i, loan = self.identity, self.loan
        return Facts(
            identity=StoredIdentity(age=i.age, occupation=i.occupation),
            loan=StoredLoan(paid=loan.paid, interest_rate=loan.interest_rate, late_fee=loan.late_fee),
            behaviour=self.behaviour,
            credit=self.credit,
            personal=self.personal,
            legal_step=self.legal_step,
            variant=self.variant,
        )

    def days_overdue(self, today: date) -> int | None:
        if self.behaviour.days_overdue is not None:
            return self.behaviour.days_overdue
        if self.loan.due_date is not None:
            return max(0, (today - self.loan.due_date).days)
        return None

    def balance(self) -> Decimal | None:
        if self.loan.balance is not None:
            return self.loan.balance
        if self.loan.principal is not None:
            return max(Decimal("0"), self.loan.principal - self.loan.paid)
        return None

    def flags(self) -> frozenset[str]:
        return frozenset(self.contact.flags)

    def compliance_account(self) -> Account:
        c = self.contact
        return Account(
            id=self.id,
            country=c.country,
            region=c.region.upper() if c.region else None,
            city=c.city,
            timezone=c.timezone,
            phones=tuple(_phone(p) for p in c.phones),
        )


def _phone(p: PhoneIn) -> Phone:
    return Phone(p.number, p.type, p.consent, p.role, p.refused, p.wrong_number)


def parse_profile(raw: Any) -> AccountProfile:
    if not isinstance(raw, dict):
        raise ProfileError("an account is a JSON object with id, contact, loan, ...")
    try:
        return AccountProfile.model_validate(raw)
    except ValidationError as exc:
        raise ProfileError(describe(exc)) from None


def parse_facts(raw: Any) -> Facts:
    try:
        return Facts.model_validate(raw)
    except ValidationError as exc:
        raise ProfileError(describe(exc)) from None


def now_in(profile: AccountProfile, now: datetime) -> date:
    from dunline.compliance.zones import primary_zone, zone

    name = primary_zone(profile.compliance_account())
    z = zone(name) if name else None
    return (now.astimezone(z) if z else now).date()

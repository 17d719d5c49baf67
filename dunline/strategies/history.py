"""The contact history the planner reads: the compliance scenario's history entries (docs/compliance.md)
plus what a strategy needs to know about them: the template used, and a promise made in the contact.

    {"at": "2026-11-20T18:05:00-08:00", "channel": "call", "direction": "outbound",
     "result": "conversation", "phone": "+14155550123", "template": "reminder_call",
     "promise": {"date": "2026-11-27", "amount": "200.00"}}
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from dunline.compliance.model import Contact
from dunline.compliance.scenario import ContactIn
from dunline.config.errors import describe


class HistoryError(ValueError):
    """A history document that cannot be used; the message names each bad entry and field."""


@dataclass(frozen=True)
class Touch:
    """One history entry: a contact, the template it used, and a promise made in it."""

    contact: Contact
    template: str | None = None
    promise_date: date | None = None
    promise_amount: Decimal | None = None


class PromiseIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    date: date
    amount: Decimal | None = Field(default=None, gt=0)


class TouchIn(ContactIn):
    template: str | None = Field(default=None, pattern=r"^[a-z0-9_]+$")
    promise: PromiseIn | None = None


_ADAPTER = TypeAdapter(list[TouchIn])


def parse_history(raw: Any) -> list[Touch]:
    try:
        entries = _ADAPTER.validate_python(raw)
    except ValidationError as exc:
        raise HistoryError(describe(exc)) from None
    return [
        Touch(
            Contact(e.at, e.channel, e.direction, e.result, e.phone, e.kind),
            e.template,
            e.promise.date if e.promise else None,
            e.promise.amount if e.promise else None,
        )
        for e in entries
    ]

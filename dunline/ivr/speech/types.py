"""Values shared by the speech modules (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time
from decimal import Decimal
from typing import Literal

Lang = Literal["en", "zh"]

INTENTS: tuple[str, ...] = (
    "promise_to_pay",
    "already_paid",
    "payment_plan",
    "hardship",
    "dispute",
    "wrong_number",
    "cease",
    "attorney",
    "callback_later",
    "inconvenient_time",
    "request_agent",
    "refuse",
    "affirm",
    "deny",
    "unknown",
)

# intents that change what is allowed: their flags are set before the call ends
FLAG_INTENTS: dict[str, str] = {
    "cease": "cease",
    "attorney": "attorney",
    "dispute": "dispute",
    "wrong_number": "wrong_number",
    "hardship": "hardship",
    "inconvenient_time": "inconvenient_time",
}


@dataclass(frozen=True)
class Slots:
    date: date | None = None
    amount: Decimal | None = None
    time: time | None = None


@dataclass(frozen=True)
class Neighbour:
    """The second opinion on an answer (semantic.py): the intent a classifier trained on labelled
    examples gives it, and the nearest example of that intent (the explanation)."""

    intent: str
    probability: float  # the classifier's, 0..1
    example: str
    similarity: float  # cosine between the answer and the example, -1..1


@dataclass(frozen=True)
class IntentResult:
    intent: str
    confidence: float  # 0..1
    slots: Slots = field(default_factory=Slots)
    matched: str = ""  # the phrase or pattern that decided, for explanations and audits

    def as_json(self) -> dict[str, object]:
        return {
            "intent": self.intent,
            "confidence": round(self.confidence, 3),
            "slots": {
                "date": self.slots.date.isoformat() if self.slots.date else None,
                "amount": f"{self.slots.amount:.2f}" if self.slots.amount is not None else None,
                "time": self.slots.time.strftime("%H:%M") if self.slots.time else None,
            },
            "matched": self.matched,
        }

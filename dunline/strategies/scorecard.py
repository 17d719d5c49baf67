"""An explainable points scorecard (pure): bins -> points, a reason code per bin, a tier by score.

`score(card, profile, today) -> Score(score, tier, reasons, points)`. The score is `base` plus the
points of the bin each known feature falls in (higher = lower risk); an unknown feature scores its
`unknown` points (0 unless set). `reasons` are the reason codes of the bins that pulled the score down
most (negative points, most negative first, at most three). Protected attributes (age) are off by
default; a card that enables one without `allow_protected: true` is refused when it loads.

Features the default card reads (dunline/config/defaults/strategies/scorecard.yaml): days_overdue,
prior_overdues, on_time_ratio, credit_score, credit_trend, income_stability, spending, balance, age.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dunline.config.errors import describe
from dunline.config.packaged import read_default
from dunline.strategies.profile import AccountProfile

TIERS = ("low", "medium", "high")
FEATURES = (
    "days_overdue",
    "prior_overdues",
    "on_time_ratio",
    "credit_score",
    "credit_trend",
    "income_stability",
    "spending",
    "balance",
    "age",
)
PROTECTED = frozenset({"age"})


class ScorecardError(ValueError):
    """A scorecard that cannot be used; the message names the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bin(_Strict):
    to: float | None = None  # upper bound, exclusive; None: no bound (the last bin)
    points: int
    reason: str = Field(pattern=r"^[A-Z0-9_]+$")


class Level(_Strict):
    points: int
    reason: str = Field(pattern=r"^[A-Z0-9_]+$")


class Feature(_Strict):
    bins: list[Bin] | None = None
    values: dict[str, Level] | None = None
    unknown: int = 0
    protected: bool = False
    enabled: bool = True

    @model_validator(mode="after")
    def _shape(self) -> Feature:
        if (self.bins is None) == (self.values is None):
            raise ValueError("a feature has either `bins` (numeric) or `values` (categorical)")
        if self.bins is not None:
            bounds = [b.to for b in self.bins]
            if bounds[-1] is not None or any(t is None for t in bounds[:-1]):
                raise ValueError("only the last bin is open-ended (no `to`)")
            finite = [t for t in bounds if t is not None]
            if finite != sorted(finite) or len(set(finite)) != len(finite):
                raise ValueError("bin bounds must increase")
        return self


class Card(_Strict):
    id: str
    base: int
    allow_protected: bool = False
    tiers: dict[str, tuple[float | None, float | None]]
    features: dict[str, Feature]

    @model_validator(mode="after")
    def _check(self) -> Card:
        unknown = set(self.features) - set(FEATURES)
        if unknown:
            raise ValueError(f"unknown feature(s) {sorted(unknown)}; known: {', '.join(FEATURES)}")
        if set(self.tiers) - set(TIERS):
            raise ValueError(f"tiers must be among {TIERS}")
        for name, f in self.features.items():
            if f.enabled and (name in PROTECTED or f.protected) and not self.allow_protected:
                raise ValueError(
                    f"feature {name!r} is a protected attribute: enabling it needs `allow_protected: true`"
                )
        return self


@dataclass(frozen=True)
class Score:
    score: int
    tier: str
    reasons: tuple[str, ...]  # reason codes that pulled the score down most
    points: Mapping[str, tuple[int, str]]  # feature -> (points, reason code) for every scored feature

    def as_json(self) -> dict[str, Any]:
        return {"score": self.score, "tier": self.tier, "reasons": list(self.reasons)}


def parse_card(raw: Any, source: str = "scorecard") -> Card:
    try:
        return Card.model_validate(raw)
    except ValidationError as exc:
        raise ScorecardError(f"{source}: {describe(exc)}") from None


@functools.cache
def default_card() -> Card:
    text = read_default("strategies/scorecard.yaml")
    return parse_card(yaml.safe_load(text), "scorecard.yaml")


def features(profile: AccountProfile, today: date) -> dict[str, float | str | None]:
    """The values the scorecard reads, None where unknown."""
    balance = profile.balance()
    return {
        "days_overdue": profile.days_overdue(today),
        "prior_overdues": profile.behaviour.overdue_count,
        "on_time_ratio": profile.behaviour.on_time_ratio,
        "credit_score": profile.credit.score,
        "credit_trend": profile.credit.trend,
        "income_stability": profile.personal.income_stability,
        "spending": profile.personal.spending,
        "balance": float(balance) if isinstance(balance, Decimal) else None,
        "age": profile.identity.age,
    }


def _points(f: Feature, value: float | str | None) -> tuple[int, str] | None:
    if value is None:
        return None
    if f.values is not None:
        level = f.values.get(str(value))
        return (level.points, level.reason) if level else None
    assert f.bins is not None
    v = float(value)
    for b in f.bins:
        if b.to is None or v < b.to:
            return b.points, b.reason
    return None


def tier_of(card: Card, value: int) -> str:
    for name, (lo, hi) in card.tiers.items():
        if (lo is None or value >= lo) and (hi is None or value < hi):
            return name
    raise ScorecardError(f"score {value} falls in no tier of card {card.id!r}")


def score(card: Card, profile: AccountProfile, today: date) -> Score:
    values = features(profile, today)
    total = card.base
    got: dict[str, tuple[int, str]] = {}
    for name, f in card.features.items():
        if not f.enabled:
            continue
        hit = _points(f, values.get(name))
        if hit is None:
            total += f.unknown
            continue
        total += hit[0]
        got[name] = hit
    negative = sorted((p for p in got.values() if p[0] < 0), key=lambda p: p[0])
    return Score(total, tier_of(card, total), tuple(r for _, r in negative[:3]), got)

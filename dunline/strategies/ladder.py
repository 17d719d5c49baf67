"""Treatment ladders as data (dunline/config/defaults/strategies/ladders.yaml), validated at load.

A ladder says where each tier starts, which stage a number of days overdue implies at least, the steps
of each stage and when to move on. `planner.py` reads it; nothing here decides.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dunline.config.errors import describe
from dunline.config.packaged import read_default

Stage = Literal["early", "mid", "late", "hardship"]
ORDER: tuple[str, ...] = ("early", "mid", "late")
CHANNELS = ("sms", "ivr_call", "agent_call", "letter")


class LadderError(ValueError):
    """A ladder that cannot be used; the message names the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StepSpec(_Strict):
    channel: Literal["sms", "ivr_call", "agent_call", "letter"]
    template: str = Field(pattern=r"^[a-z0-9_]+$")
    tone: Literal["gentle", "friendly", "firm", "legal", "supportive"]
    from_day: int = Field(default=0, ge=0)
    spacing_days: int = Field(default=1, ge=0)
    max_attempts: int = Field(default=1, ge=1)
    time: str = Field(default="10:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    legal: bool = False  # announces a legal step: used only when one is configured for the account


class StageSpec(_Strict):
    next: Literal["early", "mid", "late"] | None = None
    no_response_after: int = Field(default=0, ge=0)  # 0: never moves on for silence
    steps: list[StepSpec]


class TierStart(_Strict):
    start: Literal["early", "mid", "late"]


class Variant(_Strict):
    share: float = Field(gt=0, le=1)
    tiers: dict[str, TierStart] = {}


class Ladder(_Strict):
    id: str
    tiers: dict[str, TierStart]
    stage_by_days: dict[str, int]
    horizon_days: int = Field(default=14, ge=1, le=120)
    priors: dict[str, tuple[float, float]]
    stages: dict[str, StageSpec]
    variants: dict[str, Variant] = {"champion": Variant(share=1.0)}

    @field_validator("stages")
    @classmethod
    def _stages(cls, v: dict[str, StageSpec]) -> dict[str, StageSpec]:
        missing = {"early", "mid", "late", "hardship"} - set(v)
        if missing:
            raise ValueError(f"missing stage(s) {sorted(missing)}")
        return v

    @model_validator(mode="after")
    def _check(self) -> Ladder:
        if set(self.tiers) != {"low", "medium", "high"}:
            raise ValueError("tiers must be exactly low, medium, high")
        if abs(sum(v.share for v in self.variants.values()) - 1.0) > 1e-9:
            raise ValueError("variant shares must add up to 1")
        for name in ("call", "sms"):
            a, b = self.priors.get(name, (0, 0))
            if a <= 0 or b <= 0:
                raise ValueError(f"priors.{name} needs two positive numbers (Beta a, b)")
        return self

    def start(self, tier: str, variant: str) -> str:
        override = self.variants.get(variant, Variant(share=1.0)).tiers.get(tier)
        return (override or self.tiers[tier]).start


def parse_ladder(raw: Any, source: str = "ladders") -> Ladder:
    try:
        return Ladder.model_validate(raw)
    except ValidationError as exc:
        raise LadderError(f"{source}: {describe(exc)}") from None


@functools.cache
def default_ladder() -> Ladder:
    text = read_default("strategies/ladders.yaml")
    return parse_ladder(yaml.safe_load(text), "ladders.yaml")


def variant_of(account_id: str, ladder: Ladder, salt: str = "") -> str:
    """Champion/challenger: a stable hash of the account id picks the variant by configured shares
    (the same account always lands in the same variant; shares hold over many accounts)."""
    digest = hashlib.sha256(f"{salt}{ladder.id}:{account_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64
    edge = 0.0
    names = sorted(ladder.variants)
    for name in names:
        edge += ladder.variants[name].share
        if point < edge:
            return name
    return names[-1]

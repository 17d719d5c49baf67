"""What a campaign selects and how it dials, and what happens after each result (pure).

A campaign takes the accounts whose stored plan (`account_plans`) has a call step due, in the
chosen tiers and stages, and calls them in one mode:

- `ivr`: agentless; the IVR talks; bounded by `max_concurrent` (and the trunk's channels);
- `preview`: an agent sees the account first and starts the call;
- `progressive`: one call per ready agent;
- `predictive`: the pacer dials ahead of agents, holding the abandon rate under `abandon_target`.

Retries (`RetryRule` per result) say when a number is tried again and how often; the compliance
gate still decides every try (a retry time is the earliest, never a promise).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dunline.config.errors import describe

Mode = Literal["ivr", "preview", "progressive", "predictive", "sms"]
RETRY_RESULTS = ("busy", "no_answer", "voicemail", "failed", "abandoned")
PLAN_STAGES = ("early", "mid", "late", "hardship")  # hold and stopped are never dialled


class CampaignSpecError(ValueError):
    """A campaign definition that cannot be used; the message names each bad field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetryRule(_Strict):
    delay_s: int = Field(ge=60, le=30 * 86400)  # at least a minute between tries of one number
    max_tries: int = Field(ge=1, le=20)  # tries in all, the first included


def _default_retries() -> dict[str, RetryRule]:
    return {
        "busy": RetryRule(delay_s=15 * 60, max_tries=3),
        "no_answer": RetryRule(delay_s=3 * 3600, max_tries=4),
        "voicemail": RetryRule(delay_s=24 * 3600, max_tries=2),
        "failed": RetryRule(delay_s=30 * 60, max_tries=2),
        "abandoned": RetryRule(delay_s=24 * 3600, max_tries=2),
    }


class CampaignSpec(_Strict):
    name: str = Field(min_length=1, max_length=80)
    mode: Mode = "ivr"
    tiers: list[str] = []  # empty: every tier
    stages: list[str] = list(PLAN_STAGES)
    channel: Literal["ivr_call", "agent_call", "sms"] | None = None  # the plan step's channel; None: by mode
    max_concurrent: int = Field(default=10, ge=1, le=5000)  # calls at once (ivr mode; a cap otherwise)
    abandon_target: float = Field(default=0.03, gt=0, le=0.03)  # never above the legal 3%
    wrap_up_s: float = Field(default=10.0, ge=0, le=600)
    retries: dict[str, RetryRule] = Field(default_factory=_default_retries)

    @field_validator("stages")
    @classmethod
    def _stages(cls, v: list[str]) -> list[str]:
        bad = [s for s in v if s not in PLAN_STAGES]
        if bad:
            raise ValueError(f"{bad} cannot be dialled; stages are {', '.join(PLAN_STAGES)}")
        return v

    @field_validator("tiers")
    @classmethod
    def _tiers(cls, v: list[str]) -> list[str]:
        bad = [t for t in v if not t.isidentifier()]
        if bad:
            raise ValueError(f"{bad} are not tier names")
        return v

    @field_validator("retries")
    @classmethod
    def _retries(cls, v: dict[str, RetryRule]) -> dict[str, RetryRule]:
        bad = sorted(set(v) - set(RETRY_RESULTS))
        if bad:
            raise ValueError(f"no retry rule for {bad}; results are {', '.join(RETRY_RESULTS)}")
        return {**_default_retries(), **v}

    @property
    def step_channel(self) -> str:
        """The plan step a campaign of this mode carries out."""
        if self.channel:
            return self.channel
        return {"ivr": "ivr_call", "sms": "sms"}.get(self.mode, "agent_call")

    @property
    def call_kind(self) -> Literal["agent", "prerecorded"]:
        """What the called party hears, for the gate: an agent, or the IVR (refined by the dialer)."""
        return "prerecorded" if self.mode == "ivr" else "agent"


def parse_spec(raw: Any) -> CampaignSpec:
    try:
        return CampaignSpec.model_validate(raw)
    except ValidationError as exc:
        raise CampaignSpecError(describe(exc)) from None


def next_try(
    spec: CampaignSpec, result: str, tries: int, now: datetime, not_before: datetime | None = None
) -> datetime | None:
    """When to try an account again after `tries` tries ending in `result`, or None: done.

    Answered calls (a person reached) are done: the plan decides the next contact. `not_before`
    (the gate's next_allowed_at) pushes the retry later, never earlier.
    """
    rule = spec.retries.get(result)
    if rule is None or tries >= rule.max_tries:
        return None
    at = now + timedelta(seconds=rule.delay_s)
    return max(at, not_before) if not_before is not None else at

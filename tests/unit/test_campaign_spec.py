"""Campaign specs: what they accept, what they refuse, and the retry schedule they give."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dunline.dialer.campaign_spec import RETRY_RESULTS, CampaignSpecError, next_try, parse_spec

NOW = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)


def test_defaults_by_mode() -> None:
    ivr = parse_spec({"name": "a"})
    assert (ivr.mode, ivr.step_channel, ivr.call_kind, ivr.abandon_target) == (
        "ivr",
        "ivr_call",
        "prerecorded",
        0.03,
    )
    pred = parse_spec({"name": "b", "mode": "predictive"})
    assert (pred.step_channel, pred.call_kind, pred.wrap_up_s) == ("agent_call", "agent", 10.0)
    assert set(pred.retries) == set(RETRY_RESULTS)


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"name": "x", "abandon_target": 0.05}, "abandon_target"),  # never above the legal 3 %
        ({"name": "x", "stages": ["hold"]}, "stages"),  # held accounts are never dialled
        ({"name": "x", "mode": "robocall"}, "mode"),
        ({"name": "x", "retries": {"answered": {"delay_s": 60, "max_tries": 2}}}, "retries"),
        ({"name": "x", "retries": {"busy": {"delay_s": 5, "max_tries": 2}}}, "retries.busy.delay_s"),
        ({"name": "x", "colour": "red"}, "colour"),
        ({"mode": "ivr"}, "name"),
    ],
)
def test_bad_specs_name_the_field(doc: dict[str, object], field: str) -> None:
    with pytest.raises(CampaignSpecError, match=field.replace(".", r"\.")):
        parse_spec(doc)


def test_a_partial_retry_table_keeps_the_other_defaults() -> None:
    spec = parse_spec({"name": "x", "retries": {"busy": {"delay_s": 600, "max_tries": 5}}})
    assert spec.retries["busy"].max_tries == 5 and spec.retries["no_answer"].max_tries == 4


def test_retry_schedule() -> None:
    spec = parse_spec({"name": "x"})
    assert next_try(spec, "busy", 1, NOW) == NOW + timedelta(minutes=15)
    assert next_try(spec, "busy", 3, NOW) is None  # three tries in all
    assert next_try(spec, "answered", 1, NOW) is None  # a person was reached: the plan decides next
    later = NOW + timedelta(days=3)
    assert next_try(spec, "abandoned", 1, NOW, not_before=later) == later  # the gate's 72 h (UK)


@given(
    result=st.sampled_from([*RETRY_RESULTS, "answered", "blocked"]),
    tries=st.integers(1, 30),
    extra=st.integers(0, 10**6),
)
def test_a_retry_is_never_sooner_than_its_delay_nor_past_its_count(
    result: str, tries: int, extra: int
) -> None:
    spec = parse_spec({"name": "x"})
    gate = NOW + timedelta(seconds=extra)
    at = next_try(spec, result, tries, NOW, not_before=gate)
    rule = spec.retries.get(result)
    if rule is None or tries >= rule.max_tries:
        assert at is None
    else:
        assert at is not None and at >= NOW + timedelta(seconds=rule.delay_s) and at >= gate

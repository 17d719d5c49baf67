"""The caller ID a call shows (dialer/caller_ids.py, pure), and the pool's validation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dunline.config.schema import TrunkSettings
from dunline.dialer.caller_ids import closeness, pick

MAIN = "+14155550100"
POOL = ("+12125550100", "+13125550100", "+14155550142", "+14155550143", "+442079460100")


def test_closeness() -> None:
    assert closeness("+14155551234", "+14155550142") == 2  # same NANP area code
    assert closeness("+14155551234", "+12125550100") == 1  # same country
    assert closeness("+14155551234", "+442079460100") == 0
    assert closeness("+8613800138000", "+8613811112222") == 2  # China mobile, same 138 prefix
    assert closeness("+8613800138000", "+861012345678") == 1
    assert closeness("not a number", MAIN) == 0


def test_the_nearest_number_wins() -> None:
    assert pick(MAIN, POOL, "+12125559876", "ACC-1") == "+12125550100"
    assert pick(MAIN, POOL, "+13125559876", "ACC-1") == "+13125550100"
    assert pick(MAIN, POOL, "+442071234567", "ACC-1") == "+442079460100"
    # no number in the debtor's area: one of the same country
    assert pick(MAIN, POOL, "+16175559876", "ACC-1") in {n for n in POOL if n.startswith("+1")}
    # no number of the debtor's country, or no pool: the trunk's own
    assert pick(MAIN, POOL, "+8613800138000", "ACC-1") == MAIN
    assert pick(MAIN, (), "+12125559876", "ACC-1") == MAIN


def test_one_debtor_always_sees_the_same_number_and_debtors_spread() -> None:
    seen = {pick(MAIN, POOL, "+14155559876", f"ACC-{i}") for i in range(200)}
    assert seen == {"+14155550142", "+14155550143"}
    assert len({pick(MAIN, POOL, "+14155559876", "ACC-7") for _ in range(20)}) == 1
    assert pick(MAIN, tuple(reversed(POOL)), "+14155559876", "ACC-7") == pick(
        MAIN, POOL, "+14155559876", "ACC-7"
    )  # the pool's order does not matter


def test_the_pool_is_validated_number_by_number() -> None:
    t = TrunkSettings(caller_id_pool=("+1 212 555 0100", "+12125550100"))
    assert t.caller_id_pool == ("+12125550100",)  # normalised, repeats dropped
    with pytest.raises(ValidationError) as err:
        TrunkSettings(caller_id_pool=("+12125550100", "555-0100"))
    problem = err.value.errors()[0]
    assert problem["loc"] == ("caller_id_pool",) and "number 2" in problem["msg"]

"""The plan offer (strategies/offers.py): instalments that add up to the balance, affordable, dated."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dunline.strategies.offers import FIRST_AFTER_DAYS, MAX_MONTHS, MIN_INSTALMENT, add_months, offer

TODAY = date(2026, 12, 7)


@given(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("5000000"), places=2))
def test_instalments_add_up_to_the_balance_exactly(balance: Decimal) -> None:
    o = offer(balance, TODAY)
    assert o.total == balance
    assert 1 <= o.months <= MAX_MONTHS == 12
    assert all(i.amount > 0 for i in o.instalments)
    assert all(i.amount <= o.monthly for i in o.instalments)
    dues = [i.due for i in o.instalments]
    assert dues == sorted(dues) and len(set(dues)) == len(dues)
    assert dues[0] == TODAY + timedelta(days=FIRST_AFTER_DAYS)


def test_a_large_balance_is_spread_over_a_year_and_a_small_one_is_not_split_below_the_minimum() -> None:
    assert offer(Decimal("12000"), TODAY).months == 12
    small = offer(Decimal("60"), TODAY)
    assert small.months == 2 and all(i.amount >= MIN_INSTALMENT for i in small.instalments)
    assert offer(Decimal("900"), TODAY).months == 12 and offer(Decimal("100"), TODAY).months == 4


def test_month_ends_clamp_and_nothing_owed_is_refused() -> None:
    assert add_months(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert add_months(date(2027, 11, 30), 3) == date(2028, 2, 29)
    with pytest.raises(ValueError, match="nothing is owed"):
        offer(Decimal("0"), TODAY)

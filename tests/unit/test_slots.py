"""Slots: dates, amounts and times in English and Mandarin, relative to a reference time in a zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dunline.ivr.speech.slots import parse_amount, parse_date, parse_time
from dunline.ivr.speech.types import Lang

NY = ZoneInfo("America/New_York")
SH = ZoneInfo("Asia/Shanghai")
TUE = datetime(2026, 12, 1, 10, 0)  # a Tuesday
DEC20 = datetime(2026, 12, 20, 10, 0)  # a Sunday


@pytest.mark.parametrize(
    ("text", "lang", "now", "expected"),
    [
        ("next Friday", "en", TUE, date(2026, 12, 11)),
        ("this Friday", "en", TUE, date(2026, 12, 4)),
        ("Friday", "en", TUE, date(2026, 12, 4)),
        ("I'll pay on Tuesday", "en", TUE, date(2026, 12, 8)),  # a bare week day is after today
        ("tomorrow", "en", TUE, date(2026, 12, 2)),
        ("the day after tomorrow", "en", TUE, date(2026, 12, 3)),
        ("today", "en", TUE, date(2026, 12, 1)),
        ("the 15th", "en", TUE, date(2026, 12, 15)),
        ("on the fifteenth", "en", TUE, date(2026, 12, 15)),
        ("the 15th", "en", DEC20, date(2027, 1, 15)),  # month and year roll over
        ("December 4th", "en", TUE, date(2026, 12, 4)),
        ("December 4th", "en", DEC20, date(2027, 12, 4)),
        ("the 4th of January", "en", TUE, date(2027, 1, 4)),
        ("end of the month", "en", TUE, date(2026, 12, 31)),
        ("in two weeks", "en", TUE, date(2026, 12, 15)),
        ("in 3 days", "en", DEC20, date(2026, 12, 23)),
        ("in a month", "en", datetime(2027, 1, 31), date(2027, 2, 28)),
        ("first of next month", "en", DEC20, date(2027, 1, 1)),
        ("12/15", "en", DEC20, date(2027, 12, 15)),
        ("1/3/2027", "en", TUE, date(2027, 1, 3)),
        ("payday", "en", TUE, None),
        ("when I get paid", "en", TUE, None),
        ("next week", "en", TUE, None),
        ("every two weeks", "en", TUE, None),
        ("I'll pay 200 dollars", "en", TUE, None),
        ("下周五", "zh", TUE, date(2026, 12, 11)),
        ("下个星期五", "zh", TUE, date(2026, 12, 11)),
        ("周五", "zh", TUE, date(2026, 12, 4)),
        ("礼拜一还", "zh", TUE, date(2026, 12, 7)),
        ("明天", "zh", TUE, date(2026, 12, 2)),
        ("后天", "zh", TUE, date(2026, 12, 3)),
        ("15号", "zh", TUE, date(2026, 12, 15)),
        ("十五号", "zh", DEC20, date(2027, 1, 15)),
        ("月底", "zh", TUE, date(2026, 12, 31)),
        ("下个月1号", "zh", TUE, date(2027, 1, 1)),
        ("下月一号", "zh", datetime(2027, 1, 31), date(2027, 2, 1)),
        ("十二月四号", "zh", TUE, date(2026, 12, 4)),
        ("三天后", "zh", TUE, date(2026, 12, 4)),
        ("发工资再还", "zh", TUE, None),
    ],
)
def test_parse_date(text: str, lang: Lang, now: datetime, expected: date | None) -> None:
    assert parse_date(text, lang, now, NY if lang == "en" else SH) == expected


def test_past_dates_for_what_was_already_paid() -> None:
    assert parse_date("on the 20th", "en", TUE, NY, prefer="past") == date(2026, 11, 20)
    assert parse_date("last Friday", "en", TUE, NY, prefer="past") == date(2026, 11, 27)
    assert parse_date("Monday", "en", TUE, NY, prefer="past") == date(2026, 11, 30)
    assert parse_date("yesterday", "en", TUE, NY, prefer="past") == date(2026, 11, 30)
    assert parse_date("昨天", "zh", TUE, SH, prefer="past") == date(2026, 11, 30)


def test_promise_dates_are_never_in_the_past() -> None:
    for day in range(1, 32):
        got = parse_date(f"the {day}th", "en", DEC20, NY)
        assert got is not None and got >= date(2026, 12, 20), day


def test_dates_are_calendar_dates_in_the_zone_and_ignore_dst() -> None:
    # 2026-03-08 03:30 UTC is still March 7 in New York (22:30 EST); DST starts that night
    utc = datetime(2026, 3, 8, 3, 30, tzinfo=UTC)
    assert parse_date("tomorrow", "en", utc, NY) == date(2026, 3, 8)
    assert parse_date("tomorrow", "en", utc, ZoneInfo("UTC")) == date(2026, 3, 9)
    assert parse_date("in two weeks", "en", utc, NY) == date(2026, 3, 21)
    # the same instant is already March 8 in Shanghai
    assert parse_date("明天", "zh", utc, SH) == date(2026, 3, 9)
    # DST ends 2026-11-01 in New York: a naive now is read as wall time in the zone
    assert parse_date("tomorrow", "en", datetime(2026, 10, 31, 23, 59), NY) == date(2026, 11, 1)
    assert parse_date("next Sunday", "en", datetime(2026, 10, 31, 23, 59), NY) == date(2026, 11, 8)


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("$200", "en", Decimal(200)),
        ("200 dollars", "en", Decimal(200)),
        ("two hundred", "en", Decimal(200)),
        ("two hundred and fifty", "en", Decimal(250)),
        ("1,250.50", "en", Decimal("1250.50")),
        ("a thousand", "en", Decimal(1000)),
        ("fifty bucks", "en", Decimal(50)),
        ("twelve hundred", "en", Decimal(1200)),
        ("two grand", "en", Decimal(2000)),
        ("Yeah, I can pay $75.50 next Friday.", "en", Decimal("75.50")),
        ("I can pay 200 on the 15th", "en", Decimal(200)),
        ("call me at 3", "en", None),
        ("in two weeks", "en", None),
        ("on the 15th", "en", None),
        ("no one here", "en", None),
        ("两千五", "zh", Decimal(2500)),
        ("两千五百", "zh", Decimal(2500)),
        ("三百块", "zh", Decimal(300)),
        ("1500元", "zh", Decimal(1500)),
        ("一万", "zh", Decimal(10000)),
        ("下周五还两千", "zh", Decimal(2000)),
        ("十五号还", "zh", None),
        ("每月还一点", "zh", None),
        ("下午三点", "zh", None),
    ],
)
def test_parse_amount(text: str, lang: Lang, expected: Decimal | None) -> None:
    assert parse_amount(text, lang) == expected


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("at 3 pm", "en", time(15, 0)),
        ("at 3 p.m.", "en", time(15, 0)),
        ("after five", "en", time(17, 0)),
        ("15:30", "en", time(15, 30)),
        ("around 10 am", "en", time(10, 0)),
        ("at 9", "en", time(9, 0)),
        ("at noon", "en", time(12, 0)),
        ("half past three", "en", time(15, 30)),
        ("at seven thirty tonight", "en", time(19, 30)),
        ("at 10 in the morning", "en", time(10, 0)),
        ("in the morning", "en", None),
        ("I can pay 200 dollars", "en", None),
        ("下午三点", "zh", time(15, 0)),
        ("晚上八点", "zh", time(20, 0)),
        ("三点半", "zh", time(15, 30)),
        ("上午十点一刻", "zh", time(10, 15)),
        ("晚点再打", "zh", None),
    ],
)
def test_parse_time(text: str, lang: Lang, expected: time | None) -> None:
    assert parse_time(text, lang) == expected


_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
]
_ONES += ["sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def spoken(n: int, *, use_and: bool = False, hyphen: bool = False) -> str:
    """English words for 1..99999, the way people say them."""

    def below_100(k: int) -> str:
        if k < 20:
            return _ONES[k]
        word = _TENS[k // 10]
        return word if k % 10 == 0 else word + ("-" if hyphen else " ") + _ONES[k % 10]

    def below_1000(k: int) -> str:
        parts = []
        if k >= 100:
            parts.append(f"{_ONES[k // 100]} hundred")
            if k % 100 and use_and:
                parts.append("and")
        if k % 100:
            parts.append(below_100(k % 100))
        return " ".join(parts)

    if n >= 1000:
        rest = below_1000(n % 1000) if n % 1000 else ""
        glue = " and " if use_and and 0 < n % 1000 < 100 else " "
        return f"{below_1000(n // 1000)} thousand" + (glue + rest if rest else "")
    return below_1000(n)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 99999), st.booleans(), st.booleans())
def test_spoken_integers_parse_back(n: int, use_and: bool, hyphen: bool) -> None:
    words = spoken(n, use_and=use_and, hyphen=hyphen)
    assert parse_amount(words, "en") == n, words
    assert parse_amount(f"I can pay {words} dollars", "en") == n, words
    assert parse_amount(f"{n:,}", "en") == n


@pytest.mark.parametrize(
    ("text", "prefer", "expected"),
    [
        # a part of today names today
        ("I'll pay it tonight", "future", date(2026, 12, 1)),
        ("she sent it this afternoon", "past", date(2026, 12, 1)),
        ("we paid last night", "past", date(2026, 11, 30)),
        # holidays with a fixed date, Thanksgiving the fourth Thursday of November
        ("by New Year's Eve", "future", date(2026, 12, 31)),
        ("on Christmas", "future", date(2026, 12, 25)),
        ("right after New Year's", "future", date(2027, 1, 1)),
        ("we paid on Thanksgiving", "past", date(2026, 11, 26)),
        ("Thanksgiving", "future", date(2027, 11, 25)),
        # payday is vague, but a date said with it counts
        ("payday is the 18th, I'll pay then", "future", date(2026, 12, 18)),
        ("pay days, the 22nd", "future", date(2026, 12, 22)),
    ],
)
def test_parts_of_today_holidays_and_payday_dates(text: str, prefer: str, expected: date) -> None:
    assert parse_date(text, "en", TUE, NY, prefer="past" if prefer == "past" else "future") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Whisper's renderings on the telephone band: "one hundred dollars" -> "$1.00"
        ("I can send $1.00 on Friday", Decimal(100)),
        ("$3.00 every two weeks", Decimal(300)),
        ("$1.50 is all I have", Decimal("1.50")),  # real cents: left alone
        ("$10.00", Decimal(10)),
        # "a hundred and fifty" heard as "$100 and 50", "a hundred and twenty" as "$100 in 20"
        ("I'll pay $100 and 50 next week", Decimal(150)),
        ("put me down for $200 in 40 on Monday", Decimal(240)),
        ("$100 in 2 weeks", Decimal(100)),  # "in 2 weeks" is a time, not part of the sum
        # hundreds said as a digit: "two fifty", "one twenty five"
        ("I could do two fifty on Friday", Decimal(250)),
        ("one twenty five by the 15th", Decimal(125)),
        ("nine nineteen", Decimal(919)),
        # "the 60" is no day of a month
        ("I'll send the 80 through the app", Decimal(80)),
        ("on the 15th", None),
        ("round 430", None),
    ],
)
def test_amounts_as_the_recogniser_writes_them(text: str, expected: Decimal | None) -> None:
    assert parse_amount(text, "en") == expected


@pytest.mark.parametrize(
    ("text", "amounts", "expected"),
    [
        # clock times the recogniser writes without a colon
        ("call me back at 1545", False, time(15, 45)),
        ("call me at 815 in the morning", False, time(8, 15)),
        ("round 245", False, time(14, 45)),
        ("try me at 6.45 tonight", False, time(18, 45)),
        ("at 1045am", False, time(10, 45)),
        ("at 100", False, time(13, 0)),
        ("at 1275", False, None),  # no minute 75
        # where an amount may be said (a promise), "around 450" is money, not 4:50
        ("I can pay around 450 on Friday", True, None),
        ("I'll pay at 530 tonight", True, time(17, 30)),
        ("I'll pay at 530 pm", True, time(17, 30)),
    ],
)
def test_clock_times_without_a_colon(text: str, amounts: bool, expected: time | None) -> None:
    assert parse_time(text, "en", amounts=amounts) == expected

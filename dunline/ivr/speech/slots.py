"""Slots in a debtor's answer: dates, amounts, times (pure; English and Mandarin).

Dates are calendar dates in the debtor's time zone `tz`, relative to `now` (a naive `now` is read as
wall time in `tz`; an aware one is converted).  Only date arithmetic is used, so DST changes never move a
date.  Rules, in order: words with a fixed offset (today, tomorrow, 明天, 后天, "in two weeks", 三天后),
week days ("next Friday" / 下周五 = Friday of next calendar week (weeks start Monday); "this Friday" /
这周五 = this week's, or the next one if it is already past; a bare "Friday" / 周五 = the first one after
today), end of month (月底), explicit month and day ("December 4th", 十二月四号, "12/15"), a bare day of
month ("the 15th", 15号).  With prefer="future" (promises, callbacks) a date is never in the past:
"the 15th" on the 20th is next month's 15th, "March 3" in December is next year's.  prefer="past" (what
was already paid) mirrors it.  A part of today ("tonight", "this morning") is today; fixed-date holidays
("Christmas Eve", "New Year's") and Thanksgiving are dates.  Vague words ("payday", "next week", "soon")
give None (a date said with them still counts: "payday's the 15th").  dateparser is used only for
numeric forms with a year ("12/15/2026"), where its locale rules help.

Amounts: digits ("$200", "1,250.50", "2k") or words ("two hundred and fifty", "a thousand", "fifty
bucks"); a number is taken as money when it carries a currency word, or when it is not a time/date/
duration (after at/after/around, before day/week/am/pm ...) and is >= 10 or the whole answer ("the 60"
is money: no day of a month).  Sums said in two pieces are joined: "two fifty" / "one twenty five"
(hundreds said as a digit) and Whisper's "$100 and 50" / "$100 in 25" for "a hundred and fifty/twenty
five".  Whisper writes a spoken "one hundred dollars" as "$1.00": "$D.00" with a single digit D is read
as D hundred (a debt is not paid in whole single dollars written with zero cents; "$1.50" is left
alone).  A stray "$1." before other digits ("$1.75" for "$75") is not corrected: it is ambiguous.  zh: Chinese
numerals with cn2an, colloquial 两千五 = 2500; numbers before 号/日/点/月/天/周 are not money.

Times: "at 3 pm", "15:30", "after five", "at noon", "half past three", 下午三点, 晚上八点, 三点半.  An hour
without am/pm or a period word is read as business hours: 1-7 -> afternoon, 8-12 as said.  Whisper's
colon-less times ("at 1530", "round 430", "7.30 tonight") are clock times with am/pm, or after a time
word when no amount is expected (a callback) or a day part follows; in a promise "around 450" is money.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from dunline.ivr.speech.numerals import (
    TENS,
    UNITS,
    ZH_NUMBER,
    is_number_word,
    ordinal_value,
    read_number,
    tokens,
    zh_number,
)
from dunline.ivr.speech.types import Lang

Prefer = Literal["future", "past"]
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
MONTHS.update({m.lower(): i for i, m in enumerate(calendar.month_abbr) if m and m != "May"})
MONTHS.pop("mar", None)  # "mar" is more often a mis-heard word than March
ZH_WEEKDAY = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "末": 5}
for _d in range(1, 8):
    ZH_WEEKDAY[str(_d)] = _d - 1


def local_today(now: datetime, tz: ZoneInfo) -> date:
    return now.astimezone(tz).date() if now.tzinfo else now.date()


def _add_months(d: date, months: int, day: int | None = None) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(day if day is not None else d.day, last))


def _month_end(d: date, months: int = 0) -> date:
    first = _add_months(d.replace(day=1), months, 1)
    return first.replace(day=calendar.monthrange(first.year, first.month)[1])


def _day_of_month(today: date, day: int, prefer: Prefer) -> date | None:
    if not 1 <= day <= 31:
        return None
    step = 1 if prefer == "future" else -1
    for k in range(0, 13):
        y, m = divmod(today.month - 1 + step * k, 12)
        if day <= calendar.monthrange(today.year + y, m + 1)[1]:
            d = date(today.year + y, m + 1, day)
            if (d >= today) if prefer == "future" else (d <= today):
                return d
    return None


def _month_day(today: date, month: int, day: int, prefer: Prefer) -> date | None:
    for year in (today.year, today.year + 1) if prefer == "future" else (today.year, today.year - 1):
        if 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]:
            d = date(year, month, day)
            if (d >= today) if prefer == "future" else (d <= today):
                return d
    return None


def _weekday(today: date, wd: int, which: str, prefer: Prefer) -> date:
    monday = today - timedelta(days=today.weekday())
    if which == "next":
        return monday + timedelta(days=7 + wd)
    if which == "last":
        return monday - timedelta(days=7 - wd)
    if which == "this":
        d = monday + timedelta(days=wd)
        return d if d >= today else d + timedelta(days=7)
    delta = (wd - today.weekday()) % 7 or 7
    return today + timedelta(days=delta) if prefer == "future" else today - timedelta(days=(7 - delta) or 7)


def _relative(today: date, n: int, unit: str) -> date:
    if unit.startswith("month") or unit == "个月":
        return _add_months(today, n)
    return today + timedelta(days=n * (7 if unit.startswith("week") or unit in ("周", "星期", "礼拜") else 1))


_EN_FIXED = (("day after tomorrow", 2), ("day before yesterday", -2), ("tomorrow", 1), ("tomorow", 1))
_EN_FIXED2 = (
    ("today", 0),
    ("yesterday", -1),
    ("tonight", 0),
    ("this morning", 0),
    ("this afternoon", 0),
    ("this evening", 0),
    ("last night", -1),
)
# fixed-date holidays (month, day); "the fourth of july" is read as a month and day anyway
_EN_HOLIDAYS = (
    (r"christmas eve", 12, 24),
    (r"christmas( day)?|xmas", 12, 25),
    (r"new year'?s eve", 12, 31),
    (r"new year'?s( day)?", 1, 1),
    (r"halloween", 10, 31),
    (r"valentine'?s( day)?", 2, 14),
    (r"independence day", 7, 4),
)


def _parse_date_en(text: str, today: date, prefer: Prefer) -> date | None:
    toks = tokens(text)
    joined = " ".join(toks)
    for phrase, days in _EN_FIXED + _EN_FIXED2:
        if re.search(rf"\b{phrase}\b", joined):
            return today + timedelta(days=days)
    for pattern, h_month, h_day in _EN_HOLIDAYS:
        if re.search(rf"\b(?:{pattern})\b", joined):
            return _month_day(today, h_month, h_day, prefer)
    if re.search(r"\bthanksgiving\b", joined):
        return _thanksgiving(today, prefer)
    m = re.search(r"\bend of (?:the |this )?(next )?month\b|\bmonth end\b", joined)
    if m:
        return _month_end(today, 1 if m.group(1) else 0)
    if re.search(r"\b(?:first|1st|beginning|start) of (?:the )?next month\b", joined):
        return _add_months(today.replace(day=1), 1, 1)
    for i, tok in enumerate(toks):
        if tok in WEEKDAYS:
            prev = toks[i - 1] if i else ""
            which = prev if prev in ("next", "this", "last", "coming") else ""
            return _weekday(today, WEEKDAYS.index(tok), "this" if which == "coming" else which, prefer)
        if tok in ("in", "within") and i + 2 < len(toks):
            num = read_number(toks, i + 1) if toks[i + 1] != "a" else (Decimal(1), i + 2)
            if num and num[1] < len(toks) and re.fullmatch(r"(day|week|month)s?", toks[num[1]]):
                return _relative(today, int(num[0]), toks[num[1]])
        if tok in MONTHS and (tok != "may" or (i + 1 < len(toks) and ordinal_value(toks, i + 1))):
            j = i + 1 + (i + 1 < len(toks) and toks[i + 1] == "the")
            day = _day_token(toks, j)
            if day:
                return _month_day(today, MONTHS[tok], day, prefer)
        if (day_end := ordinal_value(toks, i)) and (tok[0].isdigit() or (i and toks[i - 1] in ("the", "on"))):
            k = day_end[1]
            if k + 1 < len(toks) and toks[k] == "of" and toks[k + 1] in MONTHS:
                return _month_day(today, MONTHS[toks[k + 1]], day_end[0], prefer)
            if k < len(toks) and toks[k] in MONTHS:
                return _month_day(today, MONTHS[toks[k]], day_end[0], prefer)
            if k < len(toks) and toks[k] in ("week", "weeks", "time", "times"):
                continue
            return _day_of_month(today, day_end[0], prefer)
        if tok in ("the", "on") and i + 1 < len(toks) and re.fullmatch(r"\d{1,2}", toks[i + 1]):
            nxt = toks[i + 2] if i + 2 < len(toks) else ""
            if nxt not in ("dollars", "bucks", "am", "pm", "o'clock", "percent"):
                return _day_of_month(today, int(toks[i + 1]), prefer)
    return _numeric_date(text, today, prefer)


def _thanksgiving(today: date, prefer: Prefer) -> date:
    """The fourth Thursday of November, this year's or the next (last) one."""
    for year in (today.year, today.year + 1) if prefer == "future" else (today.year, today.year - 1):
        first = date(year, 11, 1)
        d = first + timedelta(days=(3 - first.weekday()) % 7 + 21)
        if (d >= today) if prefer == "future" else (d <= today):
            return d
    return d


def _day_token(toks: list[str], j: int) -> int | None:
    if j >= len(toks):
        return None
    if o := ordinal_value(toks, j):
        return o[0]
    if re.fullmatch(r"\d{1,2}", toks[j]):
        return int(toks[j])
    num = read_number(toks, j) if is_number_word(toks[j]) else None
    return int(num[0]) if num and num[0] <= 31 else None


def _numeric_date(text: str, today: date, prefer: Prefer) -> date | None:
    m = re.search(r"\b(\d{4})-(\d{2})-(\d{2})\b", text)
    if m:
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            return None
    m = re.search(r"\b(\d{1,2})/(\d{1,2})(/\d{2,4})?\b", text)
    if not m:
        return None
    if m.group(3):
        import dateparser  # only here: numeric dates with a year, where its locale rules help

        base = datetime.combine(today, time(12))
        got = dateparser.parse(
            m.group(0),
            settings={"PREFER_DATES_FROM": prefer, "RELATIVE_BASE": base, "DATE_ORDER": "MDY"},
        )
        return got.date() if got else None
    return _month_day(today, int(m.group(1)), int(m.group(2)), prefer)


_ZH_N = ZH_NUMBER.replace("点.,", "")  # digits/numerals without a decimal point


def _zh_int(s: str) -> int | None:
    v = zh_number(s)
    return int(v) if v is not None and v == int(v) else None


def _parse_date_zh(text: str, today: date, prefer: Prefer) -> date | None:
    t = re.sub(r"\s+", "", text)
    if re.search(r"发工资|发薪|工资到", t):
        return None
    for word, days in (("大后天", 3), ("后天", 2), ("明天", 1), ("明日", 1), ("明儿", 1), ("今天", 0)):
        if word in t:
            return today + timedelta(days=days)
    for word, days in (("前天", -2), ("昨天", -1)):
        if word in t:
            return today + timedelta(days=days)
    m = re.search(r"(下个?|这个?|本|上个?)?(?:周|星期|礼拜)([一二三四五六日天1-7])", t)
    if m:
        which = {"下": "next", "上": "last", "这": "this", "本": "this"}.get((m.group(1) or " ")[0], "")
        return _weekday(today, ZH_WEEKDAY[m.group(2)], which, prefer)
    m = re.search(rf"({_ZH_N}|半)个?(天|周|星期|礼拜|个月|月)(?:以后|之后|后)", t)
    if m:
        n = 15 if m.group(1) == "半" else _zh_int(m.group(1))
        if n is not None:
            return _relative(today, n, "天" if m.group(1) == "半" else m.group(2))
    m = re.search(rf"(下个?月|这个?月|本月)?({_ZH_N})(?:号|日)", t)
    month_m = re.search(rf"({_ZH_N})月(?:份)?({_ZH_N})(?:号|日)", t)
    if month_m:
        mo, dy = _zh_int(month_m.group(1)), _zh_int(month_m.group(2))
        return _month_day(today, mo, dy, prefer) if mo and dy else None
    if re.search(r"下个?月(?:底|末)", t):
        return _month_end(today, 1)
    if re.search(r"月(?:底|末)", t):
        return _month_end(today)
    if m:
        dy = _zh_int(m.group(2))
        if dy is None:
            return None
        if m.group(1) and m.group(1).startswith("下"):
            return _add_months(today.replace(day=1), 1, dy) if dy <= 31 else None
        return _day_of_month(today, dy, prefer)
    return _numeric_date(t, today, prefer)


def parse_date(
    text: str, lang: Lang, now: datetime, tz: ZoneInfo, *, prefer: Prefer = "future"
) -> date | None:
    """The calendar date `text` names, relative to `now` in `tz`; None when it names none."""
    today = local_today(now, tz)
    return (_parse_date_zh if lang == "zh" else _parse_date_en)(text, today, prefer)


_CURRENCY_AFTER = {"dollars", "dollar", "bucks", "buck", "usd", "cents"}
_NOT_MONEY_BEFORE = {
    "at",
    "after",
    "around",
    "round",
    "before",
    "until",
    "till",
    "by",
    "the",
    "in",
    "every",
    "past",
}
_NOT_MONEY_AFTER = {
    "am", "pm", "o'clock", "oclock", "day", "days", "week", "weeks", "month", "months", "year", "years",
    "hour", "hours", "minute", "minutes", "thirty", "fifteen", "forty", "times", "time", "percent", "of",
}  # fmt: skip


def _hundreds_and(toks: list[str], value: Decimal, end: int) -> tuple[Decimal, int]:
    """A sum read in two pieces: "a hundred and fifty" written "$100 and 50", "$100 in 25" (the
    recogniser's "and"), or "two fifty" / "one twenty five" (hundreds said as a digit)."""
    n = len(toks)
    if value >= 100 and value % 100 == 0 and end + 1 < n and toks[end] in ("and", "in"):
        rest = read_number(toks, end + 1)
        after = toks[rest[1]] if rest and rest[1] < n else ""
        if rest and 0 < rest[0] < 100 and rest[0] == int(rest[0]) and after not in _NOT_MONEY_AFTER:
            return value + rest[0], rest[1]
    if end < n and toks[end - 1] in UNITS and 1 <= value <= 9 and (toks[end] in TENS or toks[end] in _TEENS):
        rest = read_number(toks, end)
        if rest and 10 <= rest[0] < 100:
            return value * 100 + rest[0], rest[1]
    return value, end


_TEENS = {w for w, v in UNITS.items() if 10 <= v <= 19}
_WHISPER_HUNDREDS = re.compile(r"[1-9]\.00")


def _parse_amount_en(text: str) -> Decimal | None:
    toks = tokens(text)
    first: Decimal | None = None
    i = 0
    while i < len(toks):
        got = read_number(toks, i) if toks[i] != "$" else None
        if got is None or ":" in toks[i] or re.fullmatch(r"\d+(st|nd|rd|th|am|pm)", toks[i]):
            i += 1
            continue
        value, end = _hundreds_and(toks, *got)
        dollar = bool(i) and toks[i - 1] == "$"
        if dollar and end == i + 1 and _WHISPER_HUNDREDS.fullmatch(toks[i]):
            # Whisper writes a spoken "one hundred dollars" as "$1.00"; a debt is not paid in
            # single dollars with zero cents, so "$D.00" is D hundred
            value *= 100
        cue = dollar or (end < len(toks) and toks[end] in _CURRENCY_AFTER)
        if cue:
            return value
        before = toks[i - 1] if i else ""
        after = toks[end] if end < len(toks) else ""
        not_day = before == "the" and value > 31  # "send the 60": no day of a month
        ok = (
            (before not in _NOT_MONEY_BEFORE or not_day)
            and before not in MONTHS
            and after not in _NOT_MONEY_AFTER
        )
        if ok and first is None and (value >= 10 or (i == 0 and end == len(toks))):
            first = value
        i = end
    return first


def _parse_amount_zh(text: str) -> Decimal | None:
    t = re.sub(r"\s+", "", text).replace("块钱", "块")
    for m in re.finditer(ZH_NUMBER, t):
        s, after, before = m.group(0), t[m.end() : m.end() + 2], t[max(0, m.start() - 2) : m.start()]
        if re.match(r"(号|日|月|天|周|个|期|点|分|岁|年|倍)", after) or re.search(
            r"(周|星期|礼拜|第)$", before
        ):
            continue
        if s.endswith("点") or (s in ("一", "两", "二") and not re.match(r"(块|元)", after)):
            continue  # 一点, 一下, 两个: not money
        v = zh_number(s)
        if v is not None:
            return v
    return None


def parse_amount(text: str, lang: Lang) -> Decimal | None:
    """The amount of money `text` names, or None."""
    return _parse_amount_zh(text) if lang == "zh" else _parse_amount_en(text)


_TIME_BEFORE = frozenset({"at", "after", "around", "round", "by", "before", "until", "till", "about", "past"})
_PM_WORDS = ("pm", "afternoon", "evening", "tonight", "night")
_AM_WORDS = ("am", "morning")


def _clock(hour: int, minute: int, period: str) -> time | None:
    if not (0 <= hour <= 24 and 0 <= minute < 60):
        return None
    if period == "pm" and hour < 12:
        hour += 12
    elif period == "am" and hour == 12:
        hour = 0
    elif period == "" and 1 <= hour <= 7:
        hour += 12
    return time(hour % 24, minute)


_DAY_PARTS = frozenset(
    {"tonight", "morning", "afternoon", "evening", "night", "in", "this", "today", "tomorrow"}
)


def _parse_time_en(text: str, amounts: bool = False) -> time | None:
    toks = tokens(text)
    joined = " ".join(toks)
    if re.search(r"\b(noon|midday)\b", joined):
        return time(12, 0)
    if re.search(r"\bmidnight\b", joined):
        return time(0, 0)
    period = next((p for p in ("pm", "am") if p in toks), "")
    period = period or ("pm" if any(w in toks for w in _PM_WORDS) else "am" if "morning" in toks else "")
    for i, tok in enumerate(toks):
        if m := re.fullmatch(r"(\d{1,2}):(\d\d)(am|pm)?", tok):
            return _clock(int(m.group(1)), int(m.group(2)), m.group(3) or period)
        before = toks[i - 1] if i else ""
        # a clock time written without its colon ("at 1530", "round 430", "7.30 tonight"): with
        # am/pm; or after a time word, when the answer is no place for an amount (a callback) or a
        # day part follows ("450" in a promise is money)
        m = re.fullmatch(r"(\d{1,2})\.?(\d\d)(am|pm)?", tok)
        nxt = toks[i + 1] if i + 1 < len(toks) else ""
        own = (m.group(3) if m else None) or (nxt if nxt in ("am", "pm") else "")
        cued = before in _TIME_BEFORE and (not amounts or nxt in _DAY_PARTS)
        if m and int(m.group(2)) < 60 and 1 <= int(m.group(1)) <= 23 and (own or cued):
            return _clock(int(m.group(1)), int(m.group(2)), own or period)
        minute, hour_at = 0, i
        if tok in ("half", "quarter") and i + 1 < len(toks) and toks[i + 1] in ("past", "to"):
            minute = 30 if tok == "half" else 15
            minute = -minute if toks[i + 1] == "to" else minute
            hour_at, before = i + 2, "at"
        m = re.fullmatch(r"(\d{1,2})(am|pm)?", toks[hour_at]) if hour_at < len(toks) else None
        num = (Decimal(m.group(1)), hour_at + 1) if m else None
        if num is None and hour_at < len(toks) and is_number_word(toks[hour_at]):
            num = read_number(toks, hour_at)
        if num is None or num[0] != int(num[0]) or not 0 <= num[0] <= 12:
            continue
        hour, end = int(num[0]), num[1]
        after = toks[end] if end < len(toks) else ""
        own = m.group(2) if m and m.group(2) else after if after in ("am", "pm") else ""
        if not own and before not in _TIME_BEFORE and after not in ("o'clock", "oclock") and hour_at == i:
            continue
        if after in ("dollars", "bucks", "days", "weeks", "hours", "minutes", "months"):
            continue
        if minute == 0 and end < len(toks) and (mm := read_number(toks, end)) and mm[0] < 60 and own == "":
            minute = int(mm[0])
        if minute < 0:
            hour, minute = hour - 1, 60 + minute
        return _clock(hour, minute, own or period)
    return None


def _parse_time_zh(text: str) -> time | None:
    t = re.sub(r"\s+", "", text)
    if m := re.search(r"(\d{1,2})[:：](\d\d)", t):
        return _clock(int(m.group(1)), int(m.group(2)), "")
    m = re.search(
        rf"(早上|上午|早晨|凌晨|中午|下午|傍晚|晚上|今晚|明晚)?({_ZH_N})点(半|一刻|三刻|({_ZH_N})分?)?", t
    )
    if not m:
        return None
    hour = _zh_int(m.group(2))
    if hour is None or hour > 24 or (m.group(2) == "一" and not m.group(1) and not m.group(3)):
        return None
    extra = m.group(3) or ""
    minute = {"半": 30, "一刻": 15, "三刻": 45}.get(extra, _zh_int(m.group(4)) if m.group(4) else 0) or 0
    word = m.group(1) or ""
    period = "am" if word in ("早上", "上午", "早晨", "凌晨") else "pm" if word else ""
    if word == "中午":
        period = "pm" if hour < 11 else ""
    return _clock(hour, minute, period)


def parse_time(text: str, lang: Lang, *, amounts: bool = False) -> time | None:
    """The clock time `text` names, or None ('in the morning' names none).  `amounts`: the answer
    may also name money (a promise), so a bare "at 450" is not read as 4:50."""
    return _parse_time_zh(text) if lang == "zh" else _parse_time_en(text, amounts)

"""Numbers in Mandarin prompts, written as a speaker says them (pure).

The Kokoro frontend reads Chinese characters; Arabic numerals must be spelt out first, and not all the
same way:
- an amount of 元 with cents: 3500.50元 -> 三千五百元五角, 12.05元 -> 十二元零五分, 1,200元 -> 一千二百元;
- a year: 2026年 -> 二零二六年;
- phone numbers, account references and codes (5 digits or more, or after 尾号 / 号码 / 电话 / 编号 /
  按): digit by digit, 一 as 幺 in phone numbers (13800138000 -> 幺三八零零幺三八零零零), as in a call
  centre; 尾号1234 -> 尾号一二三四;
- any other whole number: cn2an's reading (15号 -> 十五号, 3个月 -> 三个月);
- a percentage: 18.5% -> 百分之十八点五; a decimal that is not money: 2.5 -> 二点五.
"""

from __future__ import annotations

import re

import cn2an

DIGITS = "零一二三四五六七八九"
_MONEY = re.compile(r"(\d[\d,]*)(?:\.(\d{1,2}))?\s*元")
_YEAR = re.compile(r"(\d{4})\s*年")
_CODE_AFTER = re.compile(r"(尾号|号码|电话|编号|按|拨打|回复)(为|是)?\s*([0-9][0-9\s-]*[0-9]|[0-9])")
_PHONE = re.compile(r"\+?\d{7,}")
_DECIMAL = re.compile(r"\d+\.\d+")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*[%％]")
_INT = re.compile(r"\d+")


def digits(run: str, *, phone: bool = False) -> str:
    out = "".join(DIGITS[int(c)] for c in run if c.isdigit())
    return out.replace("一", "幺") if phone else out


def integer(n: int) -> str:
    return str(cn2an.an2cn(str(n), "low"))


def money(whole: str, cents: str | None) -> str:
    yuan = int(whole.replace(",", ""))
    jiao, fen = 0, 0
    if cents:
        cents = cents.ljust(2, "0")
        jiao, fen = int(cents[0]), int(cents[1])
    text = f"{integer(yuan)}元" if yuan or not (jiao or fen) else ""
    if jiao:
        text += f"{DIGITS[jiao]}角"
    if fen:
        text += ("零" if yuan and not jiao else "") + f"{DIGITS[fen]}分"
    return text


def _code(m: re.Match[str]) -> str:
    return m.group(1) + (m.group(2) or "") + digits(m.group(3), phone=m.group(1) in ("电话", "拨打", "号码"))


def speakable(text: str) -> str:
    """`text` with every Arabic numeral spelt out in Chinese characters."""
    text = _MONEY.sub(lambda m: money(m.group(1), m.group(2)), text)
    text = _YEAR.sub(lambda m: digits(m.group(1)) + "年", text)
    text = _CODE_AFTER.sub(_code, text)
    text = _PHONE.sub(lambda m: digits(m.group(0), phone=True), text)
    text = _PERCENT.sub(lambda m: "百分之" + str(cn2an.an2cn(m.group(1), "low")), text)
    text = _DECIMAL.sub(lambda m: str(cn2an.an2cn(m.group(0), "low")), text)
    return _INT.sub(lambda m: integer(int(m.group(0))), text)

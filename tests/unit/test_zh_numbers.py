"""Numbers in Mandarin prompts spelt out as a speaker says them (ivr/zh_numbers.py)."""

from __future__ import annotations

import pytest

from dunline.ivr.zh_numbers import speakable


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("欠款3500.50元", "欠款三千五百元五角"),
        ("12.05元", "十二元零五分"),
        ("1,200元", "一千二百元"),
        ("0.5元", "五角"),
        ("2026年12月18日", "二零二六年十二月十八日"),
        ("请拨打电话4008001234", "请拨打电话四零零八零零幺二三四"),
        ("尾号为1234的账户", "尾号为一二三四的账户"),
        ("按1确认，按0转人工", "按一确认，按零转人工"),
        ("号码+14155550100", "号码幺四幺五五五五零幺零零"),
        ("已逾期45天", "已逾期四十五天"),
        ("分3个月", "分三个月"),
        ("年利率18.5%", "年利率百分之十八点五"),
    ],
)
def test_numbers_are_spelt_out(text: str, said: str) -> None:
    assert speakable(text) == said


def test_no_arabic_numeral_is_left() -> None:
    text = "您好，尾号9876的账户欠款12,345.67元，请于2027年1月5日前还款，或拨打4001234567，按2转人工。"
    assert not any(c.isdigit() for c in speakable(text))

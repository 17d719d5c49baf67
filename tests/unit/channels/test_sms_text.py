"""A text's alphabet and parts (dunline/channels/sms_text.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dunline.channels.sms_text import MAX_PARTS, SmsTextError, encode, with_opt_out


@pytest.mark.parametrize(
    ("text", "alphabet", "units", "parts"),
    [
        ("Hello", "gsm7", 5, 1),
        ("Pay 10€ [now]", "gsm7", 16, 1),  # €, [ and ] are extension characters: two septets each
        ("a" * 160, "gsm7", 160, 1),
        ("a" * 161, "gsm7", 161, 2),
        ("a" * 306, "gsm7", 306, 2),  # 2 x 153
        ("a" * 307, "gsm7", 307, 3),
        ("您好" * 35, "ucs2", 70, 1),
        ("您好" * 35 + "。", "ucs2", 71, 2),
        ("Hi 😀", "ucs2", 5, 1),  # outside the basic plane: two UTF-16 units
        ("Grüße", "gsm7", 5, 1),  # ü is in the GSM alphabet
        ("Straße ł", "ucs2", 8, 1),  # ł is not
    ],
)
def test_alphabet_units_parts(text: str, alphabet: str, units: int, parts: int) -> None:
    got = encode(text)
    assert (got.alphabet, got.units, got.parts) == (alphabet, units, parts)
    assert got.data_coding == (0 if alphabet == "gsm7" else 8)


def test_refused_texts_say_why() -> None:
    with pytest.raises(SmsTextError, match="empty"):
        encode("  ")
    with pytest.raises(SmsTextError, match=f"at most {MAX_PARTS}"):
        encode("您" * (67 * MAX_PARTS + 1))


@given(st.text(min_size=1, max_size=400).filter(lambda t: t.strip()))
def test_parts_hold_the_text(text: str) -> None:
    got = encode(text)
    room = {"gsm7": (160, 153), "ucs2": (70, 67)}[got.alphabet]
    if got.parts == 1:
        assert got.units <= room[0]
    else:
        assert room[1] * (got.parts - 1) < got.units <= room[1] * got.parts


def test_opt_out_notice_added_once() -> None:
    assert with_opt_out("Your payment is due.", "Reply STOP to opt out.") == (
        "Your payment is due. Reply STOP to opt out."
    )
    once = with_opt_out("Due. Reply STOP to opt out.", "Reply STOP to opt out.")
    assert once == "Due. Reply STOP to opt out."
    assert with_opt_out("您的账单已逾期。", "回T退订") == "您的账单已逾期。 回T退订"

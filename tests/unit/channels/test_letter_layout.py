"""Letter layout (channels/letter_layout.py): the HTML a letter is made from, and refusals."""

from __future__ import annotations

from datetime import date

import pytest

from dunline.channels.letter_layout import Letter, LetterError, Party, Row, long_date, money, render_html

SENDER = Party("Acme Recovery", ("1 Main St", "Springfield"), "+14155550100")
BODY = "Dear Sam,\n\nYour account ending in 1234: a plan\n\nOur offer: $100.00 a month.\n\nBye <b>now</b>"


def letter(**kw: object) -> Letter:
    base: dict[str, object] = {
        "kind": "plan_offer_letter", "lang": "en", "letter_no": "L1", "day": date(2026, 12, 7),
        "ref": "…1234", "sender": SENDER, "recipient": Party("Sam Lee", ("2 Elm Rd",)), "title": "Offer",
        "body": BODY, "offer_text": "$100.00", "instalments": (Row(1, "January 1, 2027", "$100.00"),),
        "total": "$100.00",
    }  # fmt: skip
    return Letter(**{**base, **kw})  # type: ignore[arg-type]


def test_subject_table_after_the_offer_and_escaped_text() -> None:
    html = render_html(letter())
    assert "<h1>Your account ending in 1234: a plan</h1>" in html
    assert html.index("Our offer") < html.index("<table>") < html.index("Bye")
    assert "&lt;b&gt;now&lt;/b&gt;" in html  # the script's text is text, never markup
    assert 'lang="en"' in html and "January 1, 2027" in html


def test_no_address_no_text_unknown_language_and_an_incomplete_notice_are_refused() -> None:
    with pytest.raises(LetterError, match="no postal address"):
        render_html(letter(recipient=Party("Sam Lee")))
    with pytest.raises(LetterError, match="no text"):
        render_html(letter(body="  "))
    with pytest.raises(LetterError, match="language 'fr'"):
        render_html(letter(lang="fr"))
    with pytest.raises(LetterError, match=r"lacks .*dispute_by"):
        render_html(letter(kind="validation_notice", notice={"creditor": "Bank"}))


def test_dates_and_money_per_language() -> None:
    assert long_date(date(2027, 3, 5), "zh") == "2027年3月5日"
    assert long_date(date(2027, 3, 5), "en") == "March 5, 2027"
    from decimal import Decimal

    assert money(Decimal("1234.5"), "CNY", "zh") == "1,234.50元"
    assert money(Decimal("1234.5"), "USD", "en") == "$1,234.50"
    assert money(Decimal("7"), "JPY", "en") == "7.00 JPY"

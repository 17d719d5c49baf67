"""Letters as PDF/A-3b (WeasyPrint, Jinja2): a script letter (reminder, plan offer with its instalment
table, legal warning) or the US validation notice (Reg F model form B-1 fields), in English or Chinese.

The words of a script letter are the script's (`strategies/scripts`, checked against the prohibited-
speech lists when the catalog loads), filled for the account; this module only lays them out: the
sender's letterhead, the recipient's address block, the date, the masked reference, the subject line
(the script's second paragraph), the instalment table after the paragraph that states the offer, page
numbers "n / N" and the reference in the footer. Fonts: DejaVu Serif for Latin text and AR PL UMing for
Chinese (Debian `fonts-dejavu-extra`, `fonts-arphic-uming`); both are embedded (subset) as PDF/A wants.

PDF/A-3 allows files attached to the document (`attachments`): the evidence index carries the bundle's
manifest that way. Pure apart from WeasyPrint reading the installed fonts.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from importlib import resources
from typing import Any

import jinja2

PDF_VARIANT = "pdf/a-3b"
LABELS = {
    "en": {
        "date": "Date", "ref": "Reference", "letter": "Letter", "phone": "Phone", "no": "No.",
        "due": "Due on", "amount": "Amount", "total": "Total",
    },
    "zh": {
        "date": "日期", "ref": "账户", "letter": "函件编号", "phone": "电话", "no": "期数",
        "due": "还款日", "amount": "金额", "total": "合计",
    },
}  # fmt: skip


class LetterError(ValueError):
    """A letter that cannot be made; the message names what is missing or wrong."""


@dataclass(frozen=True)
class Party:
    name: str
    address: tuple[str, ...] = ()
    phone: str | None = None


@dataclass(frozen=True)
class Row:
    n: int
    due: str
    amount: str


@dataclass(frozen=True)
class Letter:
    kind: str  # the script template id, or "validation_notice"
    lang: str  # en | zh
    letter_no: str
    day: date
    ref: str  # the masked account reference shown on every page
    sender: Party
    recipient: Party
    title: str
    body: str = ""  # the filled script text (script letters)
    offer_text: str | None = None  # the formatted monthly amount: the instalment table follows its paragraph
    instalments: tuple[Row, ...] = ()
    total: str = ""
    notice: dict[str, str] = field(default_factory=dict)  # validation notice fields


def long_date(day: date, lang: str) -> str:
    return f"{day.year}年{day.month}月{day.day}日" if lang == "zh" else f"{day:%B} {day.day}, {day.year}"


@functools.cache
def _env() -> jinja2.Environment:
    loader = jinja2.PackageLoader("dunline.channels", "templates")
    return jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined)


@functools.cache
def _css() -> str:
    return resources.files("dunline.channels").joinpath("templates/letter.css").read_text("utf-8")


def paragraphs(body: str) -> list[str]:
    return [p.strip() for p in body.replace("\r\n", "\n").split("\n\n") if p.strip()]


def render_html(letter: Letter) -> str:
    if letter.lang not in LABELS:
        raise LetterError(f"letter {letter.letter_no}: no letter layout for language {letter.lang!r}")
    if not letter.recipient.address:
        raise LetterError(f"letter {letter.letter_no}: the recipient has no postal address")
    common: dict[str, Any] = {
        "lang": letter.lang,
        "title": letter.title,
        "css": _css(),
        "sender": letter.sender,
        "recipient": letter.recipient,
        "date": long_date(letter.day, letter.lang),
        "ref": letter.ref,
        "letter_no": letter.letter_no,
        "labels": LABELS[letter.lang],
    }
    if letter.kind == "validation_notice":
        missing = sorted(k for k in NOTICE_FIELDS if not letter.notice.get(k))
        if missing:
            raise LetterError(f"letter {letter.letter_no}: validation notice lacks {', '.join(missing)}")
        return _env().get_template("validation_notice.html").render(**common, **letter.notice)
    paras = paragraphs(letter.body)
    if not paras:
        raise LetterError(f"letter {letter.letter_no}: the letter has no text")
    table_after = -1
    if letter.instalments:
        found = [i for i, p in enumerate(paras) if letter.offer_text and letter.offer_text in p]
        table_after = found[0] if found else len(paras) - 1
    return (
        _env()
        .get_template("letter.html")
        .render(
            **common,
            paragraphs=paras,
            subject_at=1 if len(paras) >= 3 else -1,
            table_after=table_after,
            instalments=letter.instalments,
            total=letter.total,
        )
    )


NOTICE_FIELDS = (
    "creditor",
    "account_masked",
    "itemization_date",
    "owed_then",
    "interest",
    "fees",
    "paid",
    "owed_now",
    "dispute_by",
)


@dataclass(frozen=True)
class Attachment:
    name: str
    data: bytes
    description: str
    relationship: str = "Data"  # PDF/A-3 AFRelationship: Source, Data, Alternative, Supplement


@dataclass(frozen=True)
class Pdf:
    data: bytes
    pages: int


def write_pdf(html: str, *, attachments: Sequence[Attachment] = ()) -> Pdf:
    """The PDF/A-3b document of `html` (fonts embedded; attachments as associated files)."""
    import weasyprint  # a second to import: only where a PDF is made

    files = [
        weasyprint.Attachment(
            string=a.data, name=a.name, description=a.description, relationship=a.relationship
        )
        for a in attachments
    ]
    out = io.BytesIO()
    document = weasyprint.HTML(string=html).render(pdf_variant=PDF_VARIANT)
    document.write_pdf(out, pdf_variant=PDF_VARIANT, attachments=files)
    return Pdf(out.getvalue(), len(document.pages))


def money(amount: Decimal, currency: str, lang: str) -> str:
    """An amount as a letter writes it: "$1,234.50", "1,234.50元", "1,234.50 EUR"."""
    symbols = {"USD": "$", "GBP": "£", "EUR": "€"}
    if currency == "CNY":
        return f"{amount:,.2f}元"
    if lang == "zh":
        return f"{amount:,.2f} {currency}"
    symbol = symbols.get(currency)
    return f"{symbol}{amount:,.2f}" if symbol else f"{amount:,.2f} {currency}"

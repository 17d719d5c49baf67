"""Field parsers for portfolio files (pure).

Each parser takes the stripped cell text and returns the typed value or raises `FieldInvalid` whose
message is a predicate about the value ("is not a valid date, expected YYYY-MM-DD"), so a report can
print `'<masked value>' <reason>`. Masking of personal data is decided here too (`mask`).
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from dunline.portfolio.iso_codes import COUNTRIES, CURRENCIES

PhoneKind = Literal["mobile", "landline", "work"]
Language = Literal["en", "zh"]

PHONE_KINDS: tuple[PhoneKind, ...] = ("mobile", "landline", "work")
LANGUAGES: tuple[Language, ...] = ("en", "zh")
MAX_AMOUNT = Decimal("999999999999.99")  # numeric(14,2)
MAX_TEXT = 200

_AMOUNT_RE = re.compile(r"^\d+(\.\d+)?$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TRUE = frozenset({"true", "yes", "1", "y", "t"})
_FALSE = frozenset({"false", "no", "0", "n", "f"})

# Columns whose values are personal data and how they are shown in errors.
_PHONE_COLUMNS = frozenset({"phone", "phone2"})
_HIDDEN_COLUMNS = frozenset({"national_id", "full_name", "address_line", "age", "occupation"})


class FieldInvalid(ValueError):
    """A cell failed validation; str(exc) is the reason."""


def mask(column: str, value: str) -> str:
    """The form of `value` that may appear in an error report or a log."""
    if column in _PHONE_COLUMNS:
        digits = re.sub(r"\D", "", value)
        return "***" + digits[-4:] if len(digits) >= 4 else "***"
    if column in _HIDDEN_COLUMNS:
        return "***" if value else ""
    return value if len(value) <= 40 else value[:37] + "..."


def mask_national_id(value: str) -> str:
    """`***1234`: the last four letters/digits; the full value is never kept."""
    alnum = re.sub(r"[^0-9A-Za-z]", "", value)
    if len(alnum) < 4:
        raise FieldInvalid("is too short to be an identity number (needs at least 4 letters or digits)")
    return "***" + alnum[-4:]


def text(value: str, *, required: bool, max_len: int = MAX_TEXT) -> str | None:
    if not value:
        if required:
            raise FieldInvalid("must not be empty")
        return None
    if len(value) > max_len:
        raise FieldInvalid(f"is longer than {max_len} characters")
    if any(ord(c) < 32 for c in value):
        raise FieldInvalid("contains control characters")
    return value


def amount(value: str) -> Decimal:
    """Non-negative decimal with at most 2 places. Thousands separators and symbols are rejected."""
    if not value:
        raise FieldInvalid("must not be empty")
    if value.startswith("-"):
        raise FieldInvalid("is negative; amounts must be 0 or more")
    if "," in value:
        raise FieldInvalid("contains a thousands separator or decimal comma; write it like 1200.50")
    if not _AMOUNT_RE.match(value):
        raise FieldInvalid("is not an amount; write digits with an optional '.' and 2 decimals, e.g. 1200.50")
    frac = value.partition(".")[2]
    if len(frac) > 2:
        raise FieldInvalid("has more than 2 decimal places")
    try:
        result = Decimal(value).quantize(Decimal("0.01"))
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only valid decimals
        raise FieldInvalid("is not an amount") from exc
    if result > MAX_AMOUNT:
        raise FieldInvalid(f"is larger than {MAX_AMOUNT}")
    return result


def iso_date(value: str, *, required: bool) -> date | None:
    if not value:
        if required:
            raise FieldInvalid("must not be empty")
        return None
    if not _DATE_RE.match(value):
        raise FieldInvalid("is not a date in the form YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise FieldInvalid("is not a real calendar date") from exc


def boolean(value: str, *, default: bool) -> bool:
    if not value:
        return default
    low = value.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise FieldInvalid("is not a yes/no value (true/false, yes/no, 1/0)")


def phone_kind(value: str) -> PhoneKind:
    low = value.lower() or "mobile"
    for kind in PHONE_KINDS:
        if kind == low:
            return kind
    raise FieldInvalid(f"is not a phone type ({'|'.join(PHONE_KINDS)})")


def language(value: str) -> Language:
    low = value.lower() or "en"
    for lang in LANGUAGES:
        if lang == low:
            return lang
    raise FieldInvalid(f"is not a supported language ({'|'.join(LANGUAGES)})")


def currency(value: str) -> str:
    code = value.upper() or "USD"
    if code not in CURRENCIES:
        raise FieldInvalid("is not an ISO 4217 currency code")
    return code


def country(value: str, *, default: str) -> str:
    code = value.upper() or default
    if code not in COUNTRIES:
        raise FieldInvalid("is not an ISO 3166 alpha-2 country code")
    return code


def timezone(value: str) -> str | None:
    if not value:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise FieldInvalid("is not an IANA time zone (e.g. America/Los_Angeles)") from exc
    return value


def phone(value: str, *, region: str) -> str:
    """E.164 form of `value`; national numbers are read in `region`."""
    if not value:
        raise FieldInvalid("must not be empty")
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise FieldInvalid(f"is not a phone number for region {region}") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise FieldInvalid(f"is not a valid number for region {region}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)

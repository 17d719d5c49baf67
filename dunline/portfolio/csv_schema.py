"""Portfolio CSV: schema and validation (pure: reads only the text stream it is given).

Row numbers: row 0 is the header; data rows are numbered 1, 2, ... in the order the CSV reader yields
records (a blank line counts as a record and is skipped). For files without quoted multi-line cells the
row number is the physical line number minus one. Every error carries that number.

Columns (case-insensitive header; order free):
  required  external_id, account_ref, full_name, phone, principal, balance, due_date
  optional  phone_type (mobile|landline|work, default mobile), phone_consent (true/false/yes/no/1/0,
            default false), phone2, phone2_type, phone2_consent, currency (ISO 4217, default USD),
            opened_on, language (en|zh, default en), timezone (IANA), address_line, city, region,
            country (ISO 3166 alpha-2, default `default_region`), national_id (kept only as ***1234)
  strategy  paid, interest_rate (percent a year), late_fee, overdue_count, max_days_overdue,
            on_time_ratio (0..1), credit_score (0..1000), credit_trend (rising|flat|falling), age,
            occupation, income_stability (stable|variable|unstable), spending
            (regular|irregular|large_irregular), legal_action, legal_after_days, variant: the account's
            `Facts` (portfolio/profile_columns.py, docs/strategies.md); every one optional

Decisions: one row is one debtor with one account (a repeated external_id or account_ref in the file is
an error); amounts are plain decimals with at most 2 places; "1,200.50", "$10" and "1e3" are rejected;
balance may exceed principal (interest, fees); due dates in the future are allowed. Phone numbers without
a leading + are read in the row's country (or `default_region` when the row has none/an invalid one).
Errors show personal data masked: phones as ***1234, names/addresses/national ids as ***.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, TextIO, TypeVar

from dunline.portfolio import fields as f
from dunline.portfolio.fields import FieldInvalid, Language, PhoneKind, mask
from dunline.portfolio.iso_codes import COUNTRIES
from dunline.portfolio.profile_columns import COLUMNS as PROFILE_COLUMNS
from dunline.portfolio.profile_columns import facts_from_cells

REQUIRED_COLUMNS: tuple[str, ...] = (
    "external_id",
    "account_ref",
    "full_name",
    "phone",
    "principal",
    "balance",
    "due_date",
)
OPTIONAL_COLUMNS: tuple[str, ...] = (
    "phone_type",
    "phone_consent",
    "phone2",
    "phone2_type",
    "phone2_consent",
    "currency",
    "opened_on",
    "language",
    "timezone",
    "address_line",
    "city",
    "region",
    "country",
    "national_id",
)
ALL_COLUMNS: tuple[str, ...] = REQUIRED_COLUMNS + OPTIONAL_COLUMNS + tuple(PROFILE_COLUMNS)
FILE = "(file)"  # column name used for errors about the whole file or a whole row
ROW = "(row)"
_T = TypeVar("_T")
_MOBILE: PhoneKind = "mobile"
_EN: Language = "en"


@dataclass(frozen=True, slots=True)
class PhoneEntry:
    number_e164: str
    kind: PhoneKind = "mobile"
    consent: bool = False
    role: str = "debtor"  # or "contact": a person the debtor named
    refused: bool = False  # that person refused further contact
    wrong_number: bool = False


@dataclass(frozen=True, slots=True)
class AccountRow:
    """One validated debtor + account. `row` is the source data-row number (0 when not from a file)."""

    external_id: str
    account_ref: str
    full_name: str
    phones: tuple[PhoneEntry, ...]
    principal: Decimal
    balance: Decimal
    due_date: date
    currency: str = "USD"
    opened_on: date | None = None
    language: Language = "en"
    timezone: str | None = None
    address_line: str | None = None
    city: str | None = None
    region: str | None = None
    country: str = "US"
    national_id_masked: str | None = None
    row: int = 0
    facts: Mapping[str, Any] = field(default_factory=dict)  # strategies.profile.Facts, JSON form
    flags: tuple[str, ...] = ()  # e.g. cease, attorney, dispute (JSON form only)
    debtor_windows: tuple[Mapping[str, Any], ...] = ()  # inconvenient times (JSON form only)


@dataclass(frozen=True, slots=True)
class RowError:
    """`row` follows the numbering in the module docstring; `value_masked` never holds personal data."""

    row: int
    column: str
    value_masked: str
    reason: str


@dataclass(frozen=True, slots=True)
class ParseResult:
    rows: list[AccountRow]
    errors: list[RowError]

    @property
    def ok(self) -> bool:
        return not self.errors


class _RowCheck:
    """Collects the errors of one row while its fields are parsed."""

    def __init__(self, row: int, cells: dict[str, str]) -> None:
        self.row = row
        self.cells = cells
        self.errors: list[RowError] = []

    def get(self, column: str) -> str:
        return self.cells.get(column, "").strip()

    def field(self, column: str, parse: Callable[[str], _T], fallback: _T) -> _T:
        value = self.get(column)
        try:
            return parse(value)
        except FieldInvalid as exc:
            self.errors.append(RowError(self.row, column, mask(column, value), str(exc)))
            return fallback


def _check_row(
    row: int, cells: dict[str, str], default_region: str
) -> tuple[AccountRow | None, list[RowError]]:
    c = _RowCheck(row, cells)
    ext = c.field("external_id", lambda v: f.text(v, required=True, max_len=100), None)
    ref = c.field("account_ref", lambda v: f.text(v, required=True, max_len=100), None)
    name = c.field("full_name", lambda v: f.text(v, required=True), None)
    country = c.field("country", lambda v: f.country(v, default=default_region), None)
    region = country or default_region
    phones: list[PhoneEntry] = []
    number = c.field("phone", lambda v: f.phone(v, region=region), None)
    kind = c.field("phone_type", f.phone_kind, _MOBILE)
    consent = c.field("phone_consent", lambda v: f.boolean(v, default=False), False)
    if number:
        phones.append(PhoneEntry(number, kind, consent))
    if c.get("phone2"):
        number2 = c.field("phone2", lambda v: f.phone(v, region=region), None)
        kind2 = c.field("phone2_type", f.phone_kind, _MOBILE)
        consent2 = c.field("phone2_consent", lambda v: f.boolean(v, default=False), False)
        if number2 and number2 == number:
            c.errors.append(RowError(row, "phone2", mask("phone2", c.get("phone2")), "is the same as phone"))
        elif number2:
            phones.append(PhoneEntry(number2, kind2, consent2))
    else:
        for col in ("phone2_type", "phone2_consent"):
            if c.get(col):
                c.errors.append(RowError(row, col, mask(col, c.get(col)), "is given without phone2"))
    principal = c.field("principal", f.amount, None)
    balance = c.field("balance", f.amount, None)
    due = c.field("due_date", lambda v: f.iso_date(v, required=True), None)
    opened = c.field("opened_on", lambda v: f.iso_date(v, required=False), None)
    currency = c.field("currency", f.currency, "USD")
    lang = c.field("language", f.language, _EN)
    tz = c.field("timezone", f.timezone, None)
    address = c.field("address_line", lambda v: f.text(v, required=False), None)
    city = c.field("city", lambda v: f.text(v, required=False), None)
    state = c.field("region", lambda v: f.text(v, required=False, max_len=100), None)
    nid = c.field("national_id", lambda v: f.mask_national_id(v) if v else None, None)
    facts, bad = facts_from_cells(cells)
    c.errors += [RowError(row, col, mask(col, c.get(col)), reason) for col, reason in bad]
    if c.errors:
        return None, c.errors
    assert ext and ref and name and country and principal is not None and balance is not None and due
    return (
        AccountRow(
            external_id=ext,
            account_ref=ref,
            full_name=name,
            phones=tuple(phones),
            principal=principal,
            balance=balance,
            due_date=due,
            currency=currency,
            opened_on=opened,
            language=lang,
            timezone=tz,
            address_line=address,
            city=city,
            region=state,
            country=country,
            national_id_masked=nid,
            row=row,
            facts=facts,
        ),
        [],
    )


def _check_header(header: list[str]) -> tuple[list[str], list[RowError]]:
    names = [h.strip().lower().lstrip("\ufeff") for h in header]
    errors: list[RowError] = []
    if not set(names) & set(ALL_COLUMNS):
        shown = ",".join(names)[:60]
        return names, [RowError(0, FILE, shown, "is not a portfolio CSV header (no known column)")]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            errors.append(RowError(0, name, name, "is a repeated column"))
        elif name not in ALL_COLUMNS:
            errors.append(RowError(0, name, name, "is not a known column"))
        seen.add(name)
    for name in REQUIRED_COLUMNS:
        if name not in seen:
            errors.append(RowError(0, name, "", "required column is missing from the header"))
    return names, errors


def parse_portfolio(
    stream: TextIO,
    *,
    default_region: str = "US",
    on_row: Callable[[int], None] | None = None,
) -> ParseResult:
    """Validate every row of a portfolio CSV; see the module docstring for columns and numbering.

    Returns all rows that passed and every error found (all columns of all rows are checked). A file
    that is not UTF-8 text or not CSV yields one error at row 0. `on_row(n)` is called after each row.
    """
    region = default_region.upper()
    if region not in COUNTRIES:
        raise ValueError(f"default_region {default_region!r} is not an ISO 3166 alpha-2 code")
    try:
        content = stream.read()
    except UnicodeDecodeError as exc:
        reason = f"is not UTF-8 text (bad byte at offset {exc.start}); save the file as UTF-8 CSV"
        return ParseResult([], [RowError(0, FILE, "", reason)])
    if "\x00" in content:
        return ParseResult([], [RowError(0, FILE, "", "is a binary file, not CSV text")])
    records = csv.reader(io.StringIO(content.removeprefix("\ufeff"), newline=""), strict=True)
    try:
        header = next(records, None)
        if header is None:
            return ParseResult([], [RowError(0, FILE, "", "is empty; expected a header row")])
        names, errors = _check_header(header)
        if any(e.row == 0 and (e.column == FILE or e.column in REQUIRED_COLUMNS) for e in errors):
            return ParseResult([], errors)
        rows: list[AccountRow] = []
        first_seen: dict[tuple[str, str], int] = {}
        for number, record in enumerate(records, start=1):
            if on_row is not None:
                on_row(number)
            if not record or all(not cell.strip() for cell in record):
                continue
            if len(record) != len(names):
                reason = f"has {len(record)} fields, the header has {len(names)}"
                errors.append(RowError(number, ROW, "", reason))
                continue
            row, row_errors = _check_row(number, dict(zip(names, record, strict=True)), region)
            for column in ("external_id", "account_ref"):
                key = record[names.index(column)].strip()
                if key and (column, key) in first_seen:
                    reason = f"is a duplicate of row {first_seen[column, key]} (must be unique in the file)"
                    row_errors.append(RowError(number, column, mask(column, key), reason))
                    row = None
                elif key:
                    first_seen[column, key] = number
            errors.extend(row_errors)
            if row is not None:
                rows.append(row)
    except csv.Error as exc:
        errors.append(RowError(records.line_num, FILE, "", f"is not valid CSV: {exc}"))
    return ParseResult(rows, errors)

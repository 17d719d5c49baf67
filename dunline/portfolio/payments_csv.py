"""Payments CSV validation (pure): `account_ref, paid_at, amount[, reference]`.

`paid_at` is an ISO 8601 date-time with an offset (`2026-12-04T14:05:00-08:00`) or a plain date
(read as noon UTC that day, so it lands on the same calendar day in every inhabited zone); `amount`
is a positive decimal with at most two places; `reference` (the lender's payment id) makes a
re-import of the same file idempotent. Rows are numbered from 1 after the header; every bad cell is
reported, and nothing is imported when any is.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import TextIO

from dunline.portfolio.csv_schema import RowError
from dunline.portfolio.fields import FieldInvalid, amount

REQUIRED = ("account_ref", "paid_at", "amount")
OPTIONAL = ("reference",)


@dataclass(frozen=True, slots=True)
class PaymentRow:
    row: int
    account_ref: str
    paid_at: datetime
    amount: Decimal
    reference: str | None


def _paid_at(value: str) -> datetime:
    v = value.strip()
    if not v:
        raise FieldInvalid("is required")
    try:
        if len(v) == 10:
            return datetime.combine(date.fromisoformat(v), time(12, 0), tzinfo=UTC)
        t = datetime.fromisoformat(v)
    except ValueError:
        raise FieldInvalid("is not an ISO 8601 date or date-time") from None
    if t.tzinfo is None:
        raise FieldInvalid("needs an offset (e.g. 2026-12-04T14:05:00-08:00) or a plain date")
    return t


def parse_payments(stream: TextIO | Iterable[str]) -> tuple[list[PaymentRow], list[RowError]]:
    reader = csv.DictReader(stream)
    header = [h.strip() for h in (reader.fieldnames or [])]
    errors: list[RowError] = []
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    if missing:
        errors.append(RowError(0, ",".join(missing), "", "required column(s) missing"))
    if unknown:
        errors.append(
            RowError(0, ",".join(unknown), "", f"unknown column(s); known: {', '.join(REQUIRED + OPTIONAL)}")
        )
    if errors:
        return [], errors
    rows: list[PaymentRow] = []
    seen: dict[tuple[str, str], int] = {}
    for n, raw in enumerate(reader, start=1):
        cells = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        ref = cells.get("account_ref", "")
        bad = len(errors)
        if not ref:
            errors.append(RowError(n, "account_ref", "", "is required"))
        try:
            paid_at = _paid_at(cells.get("paid_at", ""))
        except FieldInvalid as exc:
            errors.append(RowError(n, "paid_at", cells.get("paid_at", ""), str(exc)))
        try:
            value = amount(cells.get("amount", ""))
            if value <= 0:
                raise FieldInvalid("must be more than 0")
        except FieldInvalid as exc:
            errors.append(RowError(n, "amount", cells.get("amount", ""), str(exc)))
        reference = cells.get("reference") or None
        if reference is not None:
            if (ref, reference) in seen:
                errors.append(RowError(n, "reference", reference, f"repeats row {seen[(ref, reference)]}"))
            seen[(ref, reference)] = n
        if len(errors) == bad:
            rows.append(PaymentRow(n, ref, paid_at, value, reference))
    return rows, errors

"""The JSON form of a portfolio: a list of account documents, the shape `dunline plan` reads (pure).

Each document is validated as a `strategies.profile.AccountProfile` (docs/strategies.md) and must also
carry what storing an account needs: `identity.name`, `loan.principal`, `loan.due_date` and at least
one phone. It becomes the same `AccountRow` the CSV yields, plus what only the JSON form can say: flags,
the debtor's inconvenient times, each phone's role and state, and the strategy facts. Errors name the
document (1-based, as `row`) and the field path; personal values are never shown.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError

from dunline.portfolio.csv_schema import FILE, AccountRow, ParseResult, PhoneEntry, RowError
from dunline.portfolio.fields import FieldInvalid, mask_national_id
from dunline.strategies.profile import AccountProfile

_FLAG = re.compile(r"^[a-z][a-z_]{1,30}$")


def _personal(loc: tuple[str, ...]) -> bool:
    """Values never echoed in errors: identity, phone numbers, the city."""
    return loc[:1] == ("identity",) or loc[:2] in (
        ("contact", "phones"),
        ("contact", "city"),
        ("contact", "address"),
    )


def _scrub(loc: tuple[str, ...], error: Any) -> str:
    """The validator's message without the personal value it may quote ("'+1415' is not a number")."""
    message = str(error["msg"])
    value = error.get("input")
    if _personal(loc) and isinstance(value, str) and value:
        message = message.replace(repr(value), "the value").replace(value, "***")
    return message


def _shown(loc: tuple[str, ...], value: Any) -> str:
    if _personal(loc) or not isinstance(value, str | int | float):
        return "***" if value not in (None, "") else ""
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _required(doc: AccountProfile) -> list[tuple[str, str]]:
    missing = []
    if not doc.identity.name:
        missing.append(("identity.name", "is required to store an account"))
    if doc.loan.principal is None:
        missing.append(("loan.principal", "is required to store an account"))
    if doc.loan.due_date is None:
        missing.append(("loan.due_date", "is required to store an account"))
    if not doc.contact.phones:
        missing.append(("contact.phones", "needs at least one phone to store an account"))
    for i, flag in enumerate(doc.contact.flags):
        if not _FLAG.match(flag):
            reason = f"{flag[:30]!r} is not a flag (lower-case words, e.g. dispute)"
            missing.append((f"contact.flags.{i}", reason))
    return missing


def _row(doc: AccountProfile, n: int) -> tuple[AccountRow | None, list[RowError]]:
    errors = [RowError(n, path, "", reason) for path, reason in _required(doc)]
    nid = None
    if doc.identity.national_id:
        try:
            nid = mask_national_id(doc.identity.national_id)
        except FieldInvalid as exc:
            errors.append(RowError(n, "identity.national_id", "***", str(exc)))
    if errors:
        return None, errors
    assert doc.identity.name and doc.loan.principal is not None and doc.loan.due_date
    c = doc.contact
    balance = doc.balance()
    return (
        AccountRow(
            external_id=doc.debtor_id or doc.id,
            account_ref=doc.id,
            full_name=doc.identity.name,
            phones=tuple(
                PhoneEntry(p.number, p.type, p.consent, p.role, p.refused, p.wrong_number) for p in c.phones
            ),
            principal=doc.loan.principal,
            balance=doc.loan.principal if balance is None else balance,
            due_date=doc.loan.due_date,
            currency=doc.loan.currency,
            opened_on=doc.loan.start,
            language=doc.language,
            timezone=c.timezone,
            city=c.city,
            address_line=c.address,
            region=c.region,
            country=c.country,
            national_id_masked=nid,
            row=n,
            facts=doc.facts().model_dump(mode="json", exclude_defaults=True),
            flags=tuple(sorted(set(c.flags))),
            debtor_windows=tuple(w.model_dump(mode="json") for w in c.debtor_windows),
        ),
        [],
    )


def parse_accounts_json(text: str) -> ParseResult:
    """Validate every document of a JSON portfolio (a list of account documents)."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        return ParseResult([], [RowError(0, FILE, "", f"is not JSON: {exc}")])
    if not isinstance(raw, list):
        return ParseResult([], [RowError(0, FILE, "", "must be a JSON list of account documents")])
    rows: list[AccountRow] = []
    errors: list[RowError] = []
    seen: dict[tuple[str, str], int] = {}
    for n, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            errors.append(RowError(n, "(document)", "", "is not a JSON object"))
            continue
        try:
            doc = AccountProfile.model_validate(item)
        except ValidationError as exc:
            for e in exc.errors():
                loc = tuple(str(p) for p in e["loc"])
                shown = _shown(loc, e.get("input"))
                errors.append(RowError(n, ".".join(loc) or "(document)", shown, _scrub(loc, e)))
            continue
        row, bad = _row(doc, n)
        errors += bad
        if row is None:
            continue
        key = ("id", row.account_ref)
        if key in seen:
            errors.append(RowError(n, "id", row.account_ref, f"is a duplicate of document {seen[key]}"))
            continue
        seen[key] = n
        rows.append(row)
    return ParseResult(rows, errors)

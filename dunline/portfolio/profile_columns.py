"""The portfolio CSV's optional strategy columns -> the account's stored `Facts` (pure).

Each column maps to one field of `dunline.strategies.profile.Facts` (the same validation as the JSON
account document), so both import forms accept and refuse the same values. An error names the column.
Amount columns follow the CSV's amount rule (plain decimals, at most 2 places).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from dunline.portfolio import fields as f
from dunline.portfolio.fields import FieldInvalid
from dunline.strategies.profile import Facts

# column -> path in the Facts document
COLUMNS: dict[str, tuple[str, ...]] = {
    "paid": ("loan", "paid"),
    "interest_rate": ("loan", "interest_rate"),
    "late_fee": ("loan", "late_fee"),
    "overdue_count": ("behaviour", "overdue_count"),
    "max_days_overdue": ("behaviour", "max_days_overdue"),
    "on_time_ratio": ("behaviour", "on_time_ratio"),
    "credit_score": ("credit", "score"),
    "credit_trend": ("credit", "trend"),
    "age": ("identity", "age"),
    "occupation": ("identity", "occupation"),
    "income_stability": ("personal", "income_stability"),
    "spending": ("personal", "spending"),
    "legal_action": ("legal_step", "action"),
    "legal_after_days": ("legal_step", "after_days"),
    "variant": ("variant",),
}
_AMOUNTS = frozenset({"paid", "late_fee"})
_BY_PATH = {path: column for column, path in COLUMNS.items()}


def facts_from_cells(cells: dict[str, str]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The JSON form of the row's Facts (only what was given) and the (column, reason) of each error."""
    doc: dict[str, Any] = {}
    errors: list[tuple[str, str]] = []
    for column, path in COLUMNS.items():
        value = cells.get(column, "").strip()
        if not value:
            continue
        parsed: Any = value
        if column in _AMOUNTS:
            try:
                parsed = str(f.amount(value))
            except FieldInvalid as exc:
                errors.append((column, str(exc)))
                continue
        node = doc
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = parsed
    try:
        facts = Facts.model_validate(doc)
    except ValidationError as exc:
        for e in exc.errors():
            loc = tuple(str(p) for p in e["loc"])
            column = _BY_PATH.get(loc) or _BY_PATH.get(loc[:1]) or "/".join(loc)
            if e["type"] == "missing" and loc == ("legal_step", "action"):
                errors.append((column, "is required when legal_after_days is given"))
            else:
                msg = e["msg"]
                errors.append((column, f"is invalid: {msg[:1].lower()}{msg[1:]}"))
        return {}, errors
    return ({}, errors) if errors else (facts.model_dump(mode="json", exclude_defaults=True), [])

"""Jinja2 filters of the console: money, instants in UTC, durations."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import jinja2


def money(value: Any, currency: str = "") -> str:
    if value is None or value == "":
        return "-"
    amount = Decimal(str(value))
    return f"{amount:,.2f} {currency}".strip()


def when(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M %Z").strip()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def install(env: jinja2.Environment) -> None:
    env.filters["money"] = money
    env.filters["when"] = when

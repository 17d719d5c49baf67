"""The scenario parser rejects a bad document with a ScenarioError that names each bad field's path."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from dunline.compliance.scenario import ScenarioError, parse_scenario

GOOD: dict[str, Any] = {
    "now": "2026-12-01T07:30:00-08:00",
    "account": {
        "id": "A-1",
        "country": "US",
        "region": "CA",
        "city": None,
        "timezone": None,
        "phones": [{"number": "+14155550123", "type": "mobile", "consent": True}],
        "flags": [],
        "debtor_windows": [{"start": "09:00", "end": "17:00", "days": ["mon"], "channels": ["call"]}],
    },
    "history": [
        {
            "at": "2026-11-30T10:00:00-08:00",
            "channel": "call",
            "direction": "outbound",
            "result": "no_answer",
            "phone": "+14155550123",
        }
    ],
    "attempt": {"channel": "call", "phone": "+14155550123", "kind": "agent", "caller_id": "+14155550100"},
}

Edit = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Edit:
    def edit(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        if last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value

    return edit


CASES: list[tuple[str, Edit, str]] = [
    # unknown fields, at every level
    ("unknown-top", _set("colour", "red"), "colour"),
    ("unknown-account", _set("account.nickname", "x"), "account.nickname"),
    ("unknown-phone", _set("account.phones.0.carrier", "x"), "account.phones.0.carrier"),
    ("unknown-history", _set("history.0.duration", 3), "history.0.duration"),
    ("unknown-attempt", _set("attempt.priority", 1), "attempt.priority"),
    ("unknown-window", _set("account.debtor_windows.0.zone", "UTC"), "account.debtor_windows.0.zone"),
    # bad times
    ("bad-now", _set("now", "2026-13-01T10:00:00+00:00"), "now"),
    ("bad-now-text", _set("now", "tomorrow"), "now"),
    ("bad-history-at", _set("history.0.at", "2026-11-31T10:00:00+00:00"), "history.0.at"),
    ("bad-window-start", _set("account.debtor_windows.0.start", "25:00"), "account.debtor_windows.0.start"),
    ("bad-window-end", _set("account.debtor_windows.0.end", "24:30"), "account.debtor_windows.0.end"),
    ("bad-window-end-format", _set("account.debtor_windows.0.end", "5pm"), "account.debtor_windows.0.end"),
    ("bad-window-day", _set("account.debtor_windows.0.days", ["funday"]), "account.debtor_windows.0.days"),
    ("bad-timezone", _set("account.timezone", "Mars/Olympus_Mons"), "account.timezone"),
    # naive datetimes
    ("naive-now", _set("now", "2026-12-01T07:30:00"), "now"),
    ("naive-history-at", _set("history.0.at", "2026-11-30T10:00:00"), "history.0.at"),
    # bad phone numbers
    ("bad-phone-no-plus", _set("account.phones.0.number", "4155550123"), "account.phones.0.number"),
    ("bad-phone-short", _set("account.phones.0.number", "+1415555"), "account.phones.0.number"),
    ("bad-phone-text", _set("account.phones.0.number", "call me"), "account.phones.0.number"),
    ("bad-attempt-phone", _set("attempt.phone", "+99912"), "attempt.phone"),
    ("bad-history-phone", _set("history.0.phone", "12"), "history.0.phone"),
    ("bad-phone-type", _set("account.phones.0.type", "fax"), "account.phones.0.type"),
    # bad country
    ("bad-country-lower", _set("account.country", "us"), "account.country"),
    ("bad-country-alpha3", _set("account.country", "USA"), "account.country"),
    ("bad-country-empty", _set("account.country", ""), "account.country"),
    # bad channels
    ("bad-attempt-channel", _set("attempt.channel", "fax"), "attempt.channel"),
    ("bad-history-channel", _set("history.0.channel", "pigeon"), "history.0.channel"),
    (
        "bad-window-channel",
        _set("account.debtor_windows.0.channels", ["telex"]),
        "account.debtor_windows.0.channels",
    ),
    # other enumerations
    ("bad-kind", _set("attempt.kind", "robot"), "attempt.kind"),
    ("bad-direction", _set("history.0.direction", "sideways"), "history.0.direction"),
    ("bad-result", _set("history.0.result", "maybe"), "history.0.result"),
    ("missing-attempt", lambda d: d.pop("attempt"), "attempt"),
    ("missing-now", lambda d: d.pop("now"), "now"),
]


def test_the_good_document_parses() -> None:
    attempt, ledger, flags, now = parse_scenario(copy.deepcopy(GOOD))
    assert attempt.phone == "+14155550123"
    assert len(ledger) == 1
    assert flags == frozenset()
    assert now.utcoffset() is not None


@pytest.mark.parametrize(("edit", "field"), [(e, f) for _, e, f in CASES], ids=[n for n, _, _ in CASES])
def test_error_names_the_field(edit: Edit, field: str) -> None:
    doc = copy.deepcopy(GOOD)
    edit(doc)
    with pytest.raises(ScenarioError) as info:
        parse_scenario(doc)
    message = str(info.value)
    paths = [part.split(":", 1)[0].strip() for part in message.split("; ")]
    assert any(p == field or p.startswith(field + ".") for p in paths), message


def test_every_bad_field_is_named() -> None:
    doc = copy.deepcopy(GOOD)
    doc["account"]["country"] = "usa"
    doc["attempt"]["channel"] = "fax"
    doc["history"][0]["at"] = "2026-11-30T10:00:00"
    with pytest.raises(ScenarioError) as info:
        parse_scenario(doc)
    message = str(info.value)
    for field in ("account.country", "attempt.channel", "history.0.at"):
        assert field in message, message


@pytest.mark.parametrize("raw", [[], "scenario", None, 3])
def test_not_an_object(raw: Any) -> None:
    with pytest.raises(ScenarioError):
        parse_scenario(raw)


def test_numbers_are_normalised_to_e164() -> None:
    doc = copy.deepcopy(GOOD)
    doc["account"]["phones"][0]["number"] = "+1 (415) 555-0123"
    doc["attempt"]["phone"] = "+1-415-555-0123"
    attempt, _, _, _ = parse_scenario(doc)
    assert attempt.phone == "+14155550123"
    assert attempt.account.phones[0].number == "+14155550123"

"""The named scenarios of tests/fixtures/compliance/: each file is a scenario (docs/compliance.md) plus the
verdict expected by reading the rules (`expect`: allowed, the blocking rule ids, next_allowed_at)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dunline.compliance.gate import check
from dunline.compliance.scenario import parse_scenario

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "compliance"
FILES = sorted(FIXTURES.glob("*.json"))


def _load(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    doc = json.loads(path.read_text("utf-8"))
    expect = doc.pop("expect")
    return doc, expect


def test_there_are_enough_scenarios() -> None:
    assert len(FILES) >= 60


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_scenario(path: Path) -> None:
    doc, expect = _load(path)
    attempt, ledger, flags, now = parse_scenario(doc)
    verdict = check(attempt, ledger, flags, now)
    got = {
        "allowed": verdict.allowed,
        "rules": sorted(verdict.rules),
        "next_allowed_at": verdict.next_allowed_at,
        "reasons": verdict.reasons,
    }
    want_next = expect["next_allowed_at"]
    want_next_dt = None if want_next is None else datetime.fromisoformat(want_next)
    assert verdict.allowed is expect["allowed"], got
    assert sorted(set(verdict.rules)) == sorted(set(expect["rules"])), got
    assert len(verdict.rules) == len(set(verdict.rules)), "a rule id is named twice"
    if want_next_dt is None:
        assert verdict.next_allowed_at is None, got
    else:
        assert verdict.next_allowed_at is not None, got
        # compared as instants (an inter-zone == is False for a time in a fold or gap, PEP 495)
        assert verdict.next_allowed_at.astimezone(UTC) == want_next_dt.astimezone(UTC), (
            f"next_allowed_at {verdict.next_allowed_at.isoformat()} != {want_next}; {got}"
        )
    if verdict.allowed:
        assert verdict.next_allowed_at is None and not verdict.reasons
    else:
        assert len(verdict.reasons) >= 1


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_scenario_next_allowed_is_the_earliest(path: Path) -> None:
    """Blocked with a next_allowed_at: the same attempt passes there and not one second before."""
    doc, _ = _load(path)
    attempt, ledger, flags, now = parse_scenario(doc)
    verdict = check(attempt, ledger, flags, now)
    if verdict.allowed or verdict.next_allowed_at is None:
        return
    nxt = verdict.next_allowed_at.astimezone(UTC)  # arithmetic on instants, not on wall clocks
    assert nxt > now
    at_next = check(attempt, ledger, flags, nxt)
    assert at_next.allowed, (nxt.isoformat(), at_next.rules, at_next.reasons)
    before = nxt - timedelta(seconds=1)
    if before > now:
        earlier = check(attempt, ledger, flags, before)
        assert not earlier.allowed, (
            f"allowed at {before.isoformat()}, before next_allowed_at {nxt.isoformat()}"
        )

"""Answering machines through the real PBX: a limited-content message where the debtor's profiles
allow one (US), a hang-up where one of them does not (a UK address)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from dunline.controller.app import Controller, prepare_targets
from dunline.portfolio.json_form import parse_accounts_json
from dunline.store.accounts import import_portfolio, load_account

if TYPE_CHECKING:
    from conftest import Stack

pytestmark = pytest.mark.integration

MACHINE = "+14155550106"  # the carrier's voicemail: a long greeting, a beep, then it records


def account(ref: str, country: str, zone: str) -> dict[str, object]:
    return {
        "id": ref,
        "contact": {
            "country": country,
            "timezone": zone,
            "phones": [{"number": MACHINE, "type": "mobile", "consent": True}],
        },
        "identity": {"name": "Val Voicemail"},
        "loan": {"principal": "90.00", "due_date": "2026-10-01"},
    }


async def test_limited_content_message_only_where_every_profile_allows_it(stack: Stack) -> None:
    docs = [account("VM-US", "US", "America/Los_Angeles"), account("VM-UK", "GB", "Europe/London")]
    parsed = parse_accounts_json(json.dumps(docs))
    assert parsed.ok, parsed.errors
    async with Controller(stack.settings, start_asterisk=False, clock=stack.clock) as rt:
        await import_portfolio(rt.pool, parsed.rows, upsert=True)
        accounts = [await load_account(rt.pool, ref) for ref in ("VM-US", "VM-UK")]
        targets = await prepare_targets(rt, [a for a in accounts if a is not None])
        assert len(targets) == 2 and all("limited_content" in t.media for t in targets)
        us, uk = [await rt.dialer.call(t, None) for t in targets]
        assert us.state == "voicemail" and us.amd_status == "MACHINE", us
        assert uk.state == "voicemail" and uk.amd_status == "MACHINE", uk
        left = {
            r["attempt_id"]
            for r in await rt.pool.fetch(
                "SELECT attempt_id FROM contact_ledger WHERE event = 'voicemail.left'"
            )
        }
        assert {str(a) for a in left} & {us.attempt_id, uk.attempt_id} == {us.attempt_id}
        profiles = await rt.pool.fetch(
            "SELECT a.account_id, v.profiles FROM verdicts v JOIN attempts a ON a.id = v.attempt_id"
            " WHERE v.attempt_id = ANY($1::uuid[])",
            [us.attempt_id, uk.attempt_id],
        )
        assert any("uk" in r["profiles"] for r in profiles)

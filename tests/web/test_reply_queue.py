"""The reply queue (/replies) and the evidence button on the debtor page, against real PostgreSQL: a
reply nobody could act on is listed with its number masked, "Done" takes it off the list with the user
in the audit log; a clear reply is not listed; the bundle downloads as a valid bag."""

from __future__ import annotations

import re
import zipfile
from io import BytesIO
from pathlib import Path

from web_stack import Console

from dunline.channels.evidence import validate_zip


async def _reply(console: Console, body: str, intent: str, needs_person: bool) -> int:
    aid = await console.pool.fetchval("SELECT id FROM accounts WHERE account_ref = 'ACC-1001'")
    number = await console.pool.fetchval(
        "SELECT p.number_e164 FROM phones p JOIN accounts a ON a.debtor_id = p.debtor_id WHERE a.id = $1"
        " LIMIT 1",
        aid,
    )
    rid: int = await console.pool.fetchval(
        "INSERT INTO sms_inbound (account_id, number_e164, body, received_at, intent, opt_out, needs_person)"
        " VALUES ($1, $2, $3, now(), $4, false, $5) RETURNING id",
        aid,
        number,
        body,
        intent,
        needs_person,
    )
    return rid


async def test_the_reply_queue_lists_what_needs_a_person_and_done_is_audited(console: Console) -> None:
    unclear = await _reply(console, "who is this?", "unknown", True)
    await _reply(console, "I will pay 200 on Friday", "promise_to_pay", False)
    csrf = await console.login("agent")
    page = await (await console.client.get("/replies")).text()
    assert "who is this?" in page and "I will pay 200" not in page
    assert "ACC-1001" in page
    assert not re.search(r"\+1\d{10}", page)  # numbers masked
    r = await console.client.post(f"/replies/{unclear}/handled", data={"csrf": csrf}, allow_redirects=False)
    assert r.status == 303
    page = await (await console.client.get("/replies")).text()
    assert "who is this?" not in page and "No reply waiting." in page
    who = await console.pool.fetchval("SELECT handled_by FROM sms_inbound WHERE id = $1", unclear)
    assert who == "agent"
    assert await console.pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'reply.handled'") == 1
    r = await console.client.post(f"/replies/{unclear}/handled", data={"csrf": csrf}, allow_redirects=False)
    assert r.status == 404  # handled once


async def test_replies_and_texts_are_on_the_debtor_timeline(console: Console) -> None:
    aid = await console.pool.fetchval("SELECT id FROM accounts WHERE account_ref = 'ACC-1001'")
    at = console.clock.now
    await console.pool.execute(
        "INSERT INTO verdicts (account_id, at, channel, number_e164, kind, allowed) VALUES ($1, $2, 'sms',"
        " '+14155550101', 'agent', true)",
        aid,
        at,
    )
    await console.pool.execute(
        "INSERT INTO sms_messages (id, account_id, number_e164, body, alphabet, parts, state, created_at)"
        " VALUES (gen_random_uuid(), $1, '+14155550101', 'Hi Sam, your balance is due', 'gsm7', 1,"
        " 'delivered', $2)",
        aid,
        at,
    )
    await _reply(console, "I will pay 200 on Friday", "promise_to_pay", False)
    await console.login("agent")
    page = await (await console.client.get("/accounts/ACC-1001")).text()
    assert "sms reply" in page and "promise_to_pay" in page and "delivered" in page
    assert "Hi Sam" not in page and "a text in 1 part(s)" in page  # masked view: no words


async def test_the_evidence_button_downloads_a_valid_bag(console: Console, tmp_path: Path) -> None:
    await console.login("compliance")
    page = await (await console.client.get("/accounts/ACC-1001")).text()
    assert 'href="/accounts/ACC-1001/evidence"' in page
    r = await console.client.get("/accounts/ACC-1001/evidence")
    assert r.status == 200 and r.headers["Content-Type"] == "application/zip"
    data = await r.read()
    with zipfile.ZipFile(BytesIO(data)) as z:
        assert any(n.endswith("data/index.pdf") for n in z.namelist())
    path = tmp_path / "bundle.zip"
    path.write_bytes(data)
    assert validate_zip(path)
    assert (
        await console.pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'evidence.download'") == 1
    )
    await console.login("agent")
    page = await (await console.client.get("/accounts/ACC-1001")).text()
    assert "/evidence" not in page
